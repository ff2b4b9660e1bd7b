"""Every self-check a written file must pass before it is published: pixels, metadata, frames, faces."""
