//! Calls counted per caller and window (`call_count`): a rate limit that
//! holds across execution environments, which share only the database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use registry::ports::{CallCounter, PortError};

use super::MysqlPersonStore;
use super::errors::port_error;

#[async_trait]
impl CallCounter for MysqlPersonStore {
    async fn count_call(
        &self,
        caller: &str,
        window_start: DateTime<Utc>,
    ) -> Result<u32, PortError> {
        async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            // The row stays locked until the commit: concurrent calls of
            // one caller are counted one after another.
            sqlx::query(
                "INSERT INTO call_count (caller, window_start, calls) VALUES (?, ?, 1) \
                 ON DUPLICATE KEY UPDATE calls = calls + 1",
            )
            .bind(caller)
            .bind(window_start)
            .execute(&mut *tx)
            .await?;
            let calls: u32 = sqlx::query_scalar(
                "SELECT calls FROM call_count WHERE caller = ? AND window_start = ?",
            )
            .bind(caller)
            .bind(window_start)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM call_count WHERE caller = ? AND window_start < ?")
                .bind(caller)
                .bind(window_start)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(calls)
        }
        .await
        .map_err(port_error)
    }
}
