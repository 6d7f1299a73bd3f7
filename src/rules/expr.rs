//! Rule conditions in CEL (the Common Expression Language), through the `cel` crate: HR writes
//! `result == "late" && minutes_late > 10`, we compile it once and evaluate it per event.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

/// A compiled condition and the text it came from.
pub struct Condition {
    pub source: String,
    program: cel::Program,
    variables: Vec<String>,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

impl Condition {
    /// Compiles `source`, refusing variables outside `known`.
    pub fn compile(source: &str, known: &[&str]) -> Result<Condition, String> {
        let program = cel::Program::compile(source).map_err(|e| {
            let text = e.to_string();
            format!("condition is not valid CEL: {}", text.trim())
        })?;
        let mut variables: Vec<String> = program
            .references()
            .variables()
            .into_iter()
            .map(str::to_string)
            .collect();
        variables.sort();
        variables.dedup();
        let unknown: Vec<&str> = variables
            .iter()
            .map(String::as_str)
            .filter(|v| !known.contains(v))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "condition uses unknown variable{} {}; this event has: {}",
                if unknown.len() > 1 { "s" } else { "" },
                unknown.join(", "),
                known.join(", ")
            ));
        }
        Ok(Condition {
            source: source.to_string(),
            program,
            variables,
        })
    }

    /// The variables the condition reads, for recording what fired an entry.
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    /// Evaluates against the event's variables; anything but a boolean result is an error.
    pub fn holds(&self, vars: &Map<String, Json>) -> Result<bool, String> {
        let mut context = cel::Context::default();
        for name in &self.variables {
            // A missing variable is left unbound so CEL reports it by name.
            if let Some(value) = vars.get(name) {
                context.add_variable_from_value(name.as_str(), to_cel(value));
            }
        }
        match self.program.execute(&context) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "condition `{}` gave {other:?}, not true or false",
                self.source
            )),
            Err(e) => Err(format!("condition `{}` failed: {e}", self.source)),
        }
    }
}

/// JSON to CEL, with integral numbers as `int` so `minutes_late > 10` compares like with like.
fn to_cel(value: &Json) -> cel::Value {
    match value {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => cel::Value::String(Arc::new(s.clone())),
        Json::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Json::Object(map) => {
            let map: HashMap<String, cel::Value> =
                map.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            map.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn conditions_evaluate_over_event_fields() {
        let known = ["result", "minutes_late", "form"];
        // (condition, variables, expected)
        let cases: Vec<(&str, Json, Result<bool, &str>)> = vec![
            (r#"result == "late""#, json!({"result": "late"}), Ok(true)),
            (
                r#"result == "late" && minutes_late > 10"#,
                json!({"result": "late", "minutes_late": 5}),
                Ok(false),
            ),
            (
                r#"minutes_late >= 30"#,
                json!({"minutes_late": 31}),
                Ok(true),
            ),
            (
                r#"form["采纳等级"] == "A""#,
                json!({"form": {"采纳等级": "A"}}),
                Ok(true),
            ),
            (
                r#"int(form.amount) > 5"#,
                json!({"form": {"amount": "8"}}),
                Ok(true),
            ),
            (
                r#"minutes_late"#,
                json!({"minutes_late": 3}),
                Err("not true or false"),
            ),
            (r#"result == "late""#, json!({}), Err("failed")),
        ];
        for (source, v, expected) in cases {
            let c = Condition::compile(source, &known).unwrap();
            match (c.holds(&vars(v)), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{source}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{source}: {got}"),
                (got, want) => panic!("{source}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn invalid_or_unknown_conditions_are_refused_with_the_reason() {
        let known = ["result"];
        let cases = [
            (r#"result == "#, "not valid CEL"),
            (r#"reslt == "late""#, "unknown variable reslt"),
        ];
        for (source, reason) in cases {
            let err = Condition::compile(source, &known).unwrap_err();
            assert!(err.contains(reason), "{source}: {err}");
        }
    }
}
