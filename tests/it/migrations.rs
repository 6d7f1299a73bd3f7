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
    let tables = |folder: &str| -> BTreeSet<String> {
        versions(folder)
            .iter()
            .flat_map(|f| {
                let sql = std::fs::read_to_string(format!("{folder}/{f}")).unwrap();
                sql.lines()
                    .filter_map(|l| l.strip_prefix("CREATE TABLE "))
                    .map(|rest| rest.split_whitespace().next().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let sqlite = tables("migrations/sqlite");
    assert_eq!(sqlite, tables("migrations/postgres"));
    for required in [
        "employees",
        "departments",
        "department_members",
        "ledger_entries",
        "accounts",
        "idempotency_keys",
        "audit_log",
        "inbox",
        "outbox",
    ] {
        assert!(sqlite.contains(required), "{required} is missing");
    }
}
