//! A small subset of Go's text/template, enough for docker's `--format`:
//! literal text, `{{.Field.Sub}}`, `{{.}}`, `{{json .X}}`, `{{upper .X}}`,
//! `{{lower .X}}`, `{{index .Map "key"}}`, `{{join .List ","}}`, and the
//! `table` prefix (header row + aligned columns). `\t` and `\n` escapes in the
//! format string are honoured like docker's.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr {
        func: Option<String>,
        path: Vec<String>,
        arg: Option<String>,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    /// The `table` prefix was given.
    pub table: bool,
}

fn parse_path(s: &str) -> Result<Vec<String>, String> {
    if s == "." {
        return Ok(Vec::new());
    }
    let Some(rest) = s.strip_prefix('.') else {
        return Err(format!(
            "unsupported template expression {s:?} (use .Field.Sub)"
        ));
    };
    Ok(rest.split('.').map(str::to_string).collect())
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut src = src.replace("\\t", "\t").replace("\\n", "\n");
        let mut table = false;
        if let Some(rest) = src.strip_prefix("table") {
            table = true;
            src = rest.trim_start().to_string();
        }
        let mut parts = Vec::new();
        let mut rest = src.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("template: unclosed action in {src:?}"))?;
            let inner = after[..end]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            let words: Vec<&str> = inner.split_whitespace().collect();
            let part = match words.as_slice() {
                [p] => Part::Expr {
                    func: None,
                    path: parse_path(p)?,
                    arg: None,
                },
                [f, p] => Part::Expr {
                    func: Some(f.to_string()),
                    path: parse_path(p)?,
                    arg: None,
                },
                [f, p, a] => Part::Expr {
                    func: Some(f.to_string()),
                    path: parse_path(p)?,
                    arg: Some(a.trim_matches('"').to_string()),
                },
                _ => return Err(format!("template: unsupported action {{{{{inner}}}}}")),
            };
            parts.push(part);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts, table })
    }

    /// The header row of a `table` template: each `{{.Field}}` becomes its
    /// upper-cased docker column name.
    pub fn header(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Expr { path, .. } => {
                    let name = path.last().cloned().unwrap_or_default();
                    s.push_str(&column_name(&name));
                }
            }
        }
        s
    }

    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Expr { func, path, arg } => {
                    let mut cur = v;
                    for key in path {
                        cur = match cur.get(key) {
                            Some(x) => x,
                            None => {
                                return Err(format!(
                                    "template: can't evaluate field {key} in type {}",
                                    type_name(cur)
                                ))
                            }
                        };
                    }
                    let s = match func.as_deref() {
                        None => go_string(cur),
                        Some("json") => serde_json::to_string(cur).unwrap_or_default(),
                        Some("upper") => go_string(cur).to_uppercase(),
                        Some("lower") => go_string(cur).to_lowercase(),
                        Some("index") => cur
                            .get(arg.clone().unwrap_or_default())
                            .map(go_string)
                            .unwrap_or_else(|| "<no value>".to_string()),
                        Some("join") => match cur {
                            Value::Array(a) => a
                                .iter()
                                .map(go_string)
                                .collect::<Vec<_>>()
                                .join(arg.as_deref().unwrap_or(" ")),
                            other => go_string(other),
                        },
                        Some(f) => return Err(format!("template: function {f:?} not defined")),
                    };
                    out.push_str(&s);
                }
            }
        }
        Ok(out)
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "slice",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::Null => "nil",
    }
}

/// How Go prints a value with `{{.}}`.
fn go_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_string(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// docker's column titles for its `--format` fields.
fn column_name(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        "RunningFor" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "Names" => "NAMES".into(),
        "Repository" => "REPOSITORY".into(),
        "CreatedSince" => "CREATED".into(),
        "CPUPerc" => "CPU %".into(),
        "MemUsage" => "MEM USAGE / LIMIT".into(),
        "MemPerc" => "MEM %".into(),
        "PIDs" => "PIDS".into(),
        other => {
            // CamelCase → CAMEL CASE
            let mut s = String::new();
            for (i, ch) in other.char_indices() {
                if i > 0 && ch.is_uppercase() && !other[..i].ends_with(char::is_uppercase) {
                    s.push(' ');
                }
                s.extend(ch.to_uppercase());
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_json_and_text() {
        let v = json!({"State": {"Running": true, "Pid": 42}, "Name": "/x", "Args": ["a", "b"]});
        let t = Template::parse("{{.State.Running}}").unwrap();
        assert_eq!(t.render(&v).unwrap(), "true");
        let t = Template::parse("pid={{ .State.Pid }} {{json .State}}").unwrap();
        assert_eq!(t.render(&v).unwrap(), r#"pid=42 {"Pid":42,"Running":true}"#);
        let t = Template::parse("{{.Args}} {{join .Args \",\"}}").unwrap();
        assert_eq!(t.render(&v).unwrap(), "[a b] a,b");
        assert!(Template::parse("{{.Nope}}").unwrap().render(&v).is_err());
        assert!(Template::parse("{{.A").is_err());
    }

    #[test]
    fn table_header() {
        let t = Template::parse("table {{.ID}}\\t{{.Names}}\\t{{.Status}}").unwrap();
        assert!(t.table);
        assert_eq!(t.header(), "CONTAINER ID\tNAMES\tSTATUS");
    }
}
