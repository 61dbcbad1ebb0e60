//! The stored grant (one `oauth_tokens` row per mailbox account). Its SQL
//! lives with the rest in `store::grants`; see there for the locking.

pub use crate::store::grants::*;
