//! A SQLite database's WAL file does not keep the size of its largest
//! transaction (issue 17). Without `journal_size_limit` it stays as large as
//! the largest transaction it ever held: 1.4 GB after migration 0019 over the
//! scale bench's 1 M tickets, 482 MB after generating them.

use onit::store::{Store, WAL_SIZE_LIMIT};

use crate::common::{Db, Env};

#[tokio::test]
async fn the_wal_is_cut_back_after_a_large_transaction_on_sqlite() {
    let env = Env::new(Db::Sqlite, "");
    let store = env.store().await;
    let Store::Sqlite { writer, .. } = &store else {
        unreachable!("a SQLite store")
    };
    let wal = env.dir.path().join("onit.db-wal");
    // One transaction of 96 MB (random bytes do not fit in fewer pages).
    let mut tx = writer.begin().await.unwrap();
    sqlx::query("CREATE TABLE bulk (b BLOB)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 96) \
         INSERT INTO bulk SELECT randomblob(1048576) FROM n",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let peak = std::fs::metadata(&wal).unwrap().len();
    assert!(
        peak > WAL_SIZE_LIMIT,
        "the WAL held the transaction: {peak}"
    );
    // Its commit checkpointed it (over 1,000 pages); the next write starts the
    // WAL over, and cuts the file back.
    sqlx::query("DROP TABLE bulk")
        .execute(writer)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE after (x)")
        .execute(writer)
        .await
        .unwrap();
    let now = std::fs::metadata(&wal).unwrap().len();
    assert!(
        now <= WAL_SIZE_LIMIT,
        "the WAL kept {now} bytes after a {peak}-byte transaction"
    );
}
