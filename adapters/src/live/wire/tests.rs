//! GPT-Live wire tests.
