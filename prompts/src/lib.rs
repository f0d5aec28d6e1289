//! prompts crate (see DESIGN.md §2).
