//! Domain enums stored as their text names (`open`, `urgent`, `critical`…) and
//! decoded straight into their types when a row is read: a `TicketRow` that
//! exists has a valid status, priority and severity, so no caller compares
//! state as strings. An unknown name in the database is a decode error naming
//! the value, never a silent default.

use super::OutboxStatus;
use crate::policy::history::Status;
use crate::policy::priority::Priority;
use crate::ticket::{EventKind, OutboxKind, Severity};
use crate::trust::Verdict;

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
    OutboxStatus,
    Verdict
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutboxStatus;

    #[tokio::test]
    async fn stored_names_decode_into_their_types_and_an_unknown_one_is_an_error_naming_it() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let s: Status = sqlx::query_scalar("SELECT 'resolved'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(s, Status::Resolved);
        let k: EventKind = sqlx::query_scalar("SELECT 'cause_set'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(k.as_str(), "cause_set");
        let o: OutboxStatus = sqlx::query_scalar("SELECT 'sending'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(o, OutboxStatus::Sending);
        let err = sqlx::query_scalar::<_, Priority>("SELECT 'whenever'")
            .fetch_one(&pool)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"whenever\""), "{err}");
        let err = sqlx::query_scalar::<_, OutboxKind>("SELECT 'carrier_pigeon'")
            .fetch_one(&pool)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("carrier_pigeon"), "{err}");
    }
}
