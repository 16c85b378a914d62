//! What the server's errors mean for the caller: connection trouble,
//! deadlocks and lock waits pass; the rest does not.

use registry::ports::PortError;

pub(super) fn is_deadlock(error: &sqlx::Error) -> bool {
    mysql_code(error) == Some(1213)
}

/// `ER_DUP_ENTRY`: a unique key already holds the value.
pub(super) fn is_duplicate_key(error: &sqlx::Error) -> bool {
    mysql_code(error) == Some(1062)
}

fn mysql_code(error: &sqlx::Error) -> Option<u16> {
    error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|e| e.number())
}

pub fn port_error(error: sqlx::Error) -> PortError {
    match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => PortError::Transient(format!("database: {error}")),
        sqlx::Error::Database(_) => match mysql_code(&error) {
            // deadlock, lock wait timeout, too many connections, server shutting down, gone away, lost
            Some(1213 | 1205 | 1040 | 1053 | 2006 | 2013) => {
                PortError::Transient(format!("database: {error}"))
            }
            _ => PortError::Permanent(format!("database: {error}")),
        },
        _ => PortError::Permanent(format!("database: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_trouble_is_transient() {
        assert!(port_error(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!port_error(sqlx::Error::RowNotFound).is_transient());
    }
}
