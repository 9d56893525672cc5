//! Human approval of requests whose policy rule says `approve`: the
//! pending requests, their decisions, and what channels see of them.

pub mod desk;
