//! The two migration folders move in lockstep: the same versions with the same names.

use std::collections::BTreeSet;

fn versions(folder: &str) -> BTreeSet<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_versions() {
    let sqlite = versions("migrations/sqlite");
    let postgres = versions("migrations/postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres differ"
    );
}

#[test]
fn both_schemas_create_the_same_tables() {
    // The tables left after every migration, in version order, has run.
    let tables = |folder: &str| -> BTreeSet<String> {
        let mut tables = BTreeSet::new();
        for f in versions(folder) {
            let sql = std::fs::read_to_string(format!("{folder}/{f}")).unwrap();
            for line in sql.lines() {
                let name = |rest: &str| {
                    rest.split_whitespace()
                        .next()
                        .unwrap()
                        .trim_end_matches(';')
                        .to_string()
                };
                if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                    tables.insert(name(rest));
                } else if let Some(rest) = line.strip_prefix("DROP TABLE ") {
                    tables.remove(&name(rest));
                }
            }
        }
        tables
    };
    let sqlite = tables("migrations/sqlite");
    assert_eq!(sqlite, tables("migrations/postgres"));
    for required in [
        "employees",
        "departments",
        "department_members",
        "ledger_entries",
        "accounts",
        "audit_log",
        "inbox",
        "outbox",
    ] {
        assert!(sqlite.contains(required), "{required} is missing");
    }
    assert!(
        !sqlite.contains("idempotency_keys"),
        "the unused table is dropped"
    );
}

#[tokio::test]
async fn sqlite_in_memory_is_refused_with_what_to_use_instead() {
    for url in ["sqlite::memory:", "sqlite:file:jifen?mode=memory"] {
        let refused = jifen::store::SqliteStore::connect(url, 1)
            .await
            .err()
            .unwrap();
        assert!(
            refused
                .to_string()
                .contains("use a file, e.g. sqlite:data/jifen.db"),
            "{url}: {refused}"
        );
    }
}
