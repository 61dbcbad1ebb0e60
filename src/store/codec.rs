//! Domain enums stored as their text names (`open`, `urgent`, `critical`…) and
//! decoded straight into their types when a row is read: a `TicketRow` that
//! exists has a valid status, priority and severity, so no caller compares
//! state as strings. An unknown name in the database is a decode error naming
//! the value, never a silent default.

use super::OutboxStatus;
use crate::policy::history::Status;
use crate::policy::priority::Priority;
use crate::ticket::{EventKind, OutboxKind, Severity};

/// Implements `sqlx::Type` and `sqlx::Decode` for a type with
/// `fn parse(&str) -> Option<Self>`, on every database where `String` decodes.
/// Binding is done with `.as_str()` at the call site.
macro_rules! stored_as_text {
    ($($t:ty),* $(,)?) => {$(
        impl<DB: sqlx::Database> sqlx::Type<DB> for $t
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $t
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <String as sqlx::Decode<'r, DB>>::decode(value)?;
                <$t>::parse(&s).ok_or_else(|| {
                    format!("unknown {} {s:?} in the database", stringify!($t)).into()
                })
            }
        }
    )*};
}

stored_as_text!(
    Status,
    Priority,
    Severity,
    EventKind,
    OutboxKind,
    OutboxStatus
);
