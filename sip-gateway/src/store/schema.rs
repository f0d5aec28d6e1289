//! The schema's migrations, embedded in the binary so that `centralita run`
//! needs no files beside it. One set serves SQLite and PostgreSQL (portable
//! SQL, see `migrations/*.sql`); sqlx's migrator records what ran in
//! `_sqlx_migrations` and, on PostgreSQL, takes an advisory lock so that two
//! gateways starting together do not race. Add a migration by appending to
//! [`MIGRATIONS`]; never edit one that has shipped (its checksum is stored).

use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// (version, description, SQL), in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (2, "transfer outcomes", include_str!("migrations/0002_transfer_outcomes.sql")),
    (3, "outbox url", include_str!("migrations/0003_outbox_url.sql")),
    (4, "recordings", include_str!("migrations/0004_recordings.sql")),
];

#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| Migration::new(version, description.into(), MigrationType::Simple, sql.into(), false))
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

pub(super) async fn migrator() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded).await
}
