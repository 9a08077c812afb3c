//! The workers' environment: `[apps.env]` and the `[apps.env_<NAME>]`
//! tables that `--env NAME` lays over it, as in PM2.

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::error::ConfigError;
use super::fields::{Table, as_integer, written_key};

/// `[apps.env]` overlaid by `[apps.env_<env_name>]`. Every `env_*` table is
/// checked, selected or not, so a mistake shows before the day it is used.
pub(super) fn parse(
    t: &Table<'_, '_>,
    env_name: Option<&str>,
) -> Result<(BTreeMap<String, String>, bool), ConfigError> {
    let mut env = env_table(t, "env")?.unwrap_or_default();
    let mut selected = false;
    for (key, _) in t.entries() {
        let Some(name) = overlay_name(key) else {
            continue;
        };
        let overlay = env_table(t, key)?.unwrap_or_default();
        if Some(name) == env_name {
            env.extend(overlay);
            selected = true;
        }
    }
    Ok((env, selected))
}

fn env_table(
    t: &Table<'_, '_>,
    key: &str,
) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
    let Some(table) = t.table(key, "env")? else {
        return Ok(None);
    };
    let mut env = BTreeMap::new();
    for (name, value) in table.entries() {
        let text = match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(_) => match as_integer(value.get_ref()) {
                Some(n) => n.to_string(),
                None => {
                    let reason = "does not fit in 64 bits; write it as a string";
                    return Err(table.invalid(&written_key(name), value, reason));
                }
            },
            DeValue::Float(f) => f.as_str().to_owned(),
            DeValue::Boolean(b) => b.to_string(),
            _ => {
                let key = written_key(name);
                return Err(table.wrong_type(&key, value, "a string, number or boolean"));
            }
        };
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(table.invalid(
                &written_key(name),
                value,
                "variable names cannot be empty or contain '=' or NUL",
            ));
        }
        env.insert(name.to_owned(), text);
    }
    Ok(Some(env))
}

/// The `NAME` of an `env_NAME` key, which `--env NAME` selects.
pub(super) fn overlay_name(key: &str) -> Option<&str> {
    key.strip_prefix("env_").filter(|name| !name.is_empty())
}
