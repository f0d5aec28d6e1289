//! dialogs crate (see DESIGN.md §2).
