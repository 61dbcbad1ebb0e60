//! What SQLite read, counted by SQLite itself: the pages a connection had to
//! fetch (`SQLITE_DBSTATUS_CACHE_MISS`). A test of what a statement touches,
//! not of how long it took.

use onit::store::Store;

/// Pages fetched by `conn` since its counter was last reset; `reset` empties
/// its page cache and starts the count again.
pub async fn cache_misses(conn: &mut sqlx::SqliteConnection, reset: bool) -> i64 {
    if reset {
        sqlx::query("PRAGMA shrink_memory")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let mut handle = conn.lock_handle().await.expect("the connection's handle");
    let db = handle.as_raw_handle().as_ptr();
    let (mut cur, mut hi) = (0, 0);
    // SAFETY: `db` is the open connection this guard holds; the two outputs are
    // plain integers on this stack.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_status(
            db,
            libsqlite3_sys::SQLITE_DBSTATUS_CACHE_MISS,
            &mut cur,
            &mut hi,
            i32::from(reset),
        )
    };
    assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
    i64::from(cur)
}

/// Every reader connection at once (so each is a different one): their page
/// counts summed, after emptying their caches and resetting the counts when
/// `reset`.
pub async fn readers(store: &Store, reset: bool) -> i64 {
    let Store::Sqlite { reader, .. } = store else {
        unreachable!("a SQLite store")
    };
    let mut conns = Vec::new();
    for _ in 0..reader.size() {
        conns.push(reader.acquire().await.unwrap());
    }
    let mut n = 0;
    for c in &mut conns {
        n += cache_misses(c, reset).await;
    }
    n
}
