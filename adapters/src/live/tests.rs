//! GPT-Live session tests.
