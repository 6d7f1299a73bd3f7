//! The modules' layers, lowest first: a module imports only from layers below its own, so
//! the code reads one way, along the data flow, and has no import cycles. A new top-level
//! module must be given a layer here.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. Modules in one layer do not import each other.
const LAYERS: &[&[&str]] = &[
    // The vocabulary: people, entries, the calendar, schedules; and the counters every
    // layer may add to.
    &["domain", "metrics"],
    // Pure rules, DingTalk's wire formats and OpenAPI client, and how workers and servers
    // run.
    &["rules", "dingtalk", "runtime"],
    &["store"],
    // The organisation, the ledger and the badges it earns, the leaderboards; callbacks
    // into the inbox.
    &["org", "ledger", "badges", "leaderboard", "ingress"],
    // What is pushed and exported: notifications and their delivery, cards, archives.
    &["outbox", "export", "honor"],
    // What people ask for (the robot), closing periods, and trying draft rules.
    &["bot", "period", "backtest"],
    // Inbox rows to ledger entries.
    &["processor"],
    &["config"],
    &["jobs", "web", "manifest"],
    &["app", "emulator"],
    &["demo"],
    &["cli"],
];

/// Macros exported at the crate root, and the module that defines each.
const ROOT_MACROS: &[(&str, &str)] = &[("say", "runtime"), ("say_raw", "runtime")];

fn layer_of(module: &str) -> Option<usize> {
    let module = ROOT_MACROS
        .iter()
        .find(|(name, _)| *name == module)
        .map_or(module, |(_, defined_in)| defined_in);
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules a source file names through `crate::` (comments left out).
fn imports(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let name: String = rest[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
            rest = &rest[at + "crate::".len()..];
        }
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_import_only_from_the_layers_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            wrong.push(format!("{module} has no layer in tests/it/layers.rs"));
            continue;
        };
        for import in imports(&std::fs::read_to_string(&file).unwrap()) {
            if import == module {
                continue;
            }
            match layer_of(&import) {
                Some(layer) if layer < own => {}
                Some(_) => wrong.push(format!(
                    "{} imports {import}, which is not below {module}",
                    relative.display()
                )),
                None => wrong.push(format!(
                    "{} imports unknown module {import}",
                    relative.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn imports_are_read_from_code_not_comments() {
    let source =
        "use crate::store::Store; // not crate::bot\nlet x = $crate::domain::Month::of(d);";
    let want: BTreeSet<String> = ["store", "domain"].map(String::from).into();
    assert_eq!(imports(source), want);
}
