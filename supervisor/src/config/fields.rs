//! Typed reads from one TOML table, each failing with the key's position.
//!
//! We walk toml's spanned document ourselves instead of deriving serde types:
//! `[[apps]]` takes dynamic `env_<NAME>` keys next to fixed ones, and every
//! error must carry a dotted key path (`apps[0].kill_timeout`) and a
//! line:column, which serde's messages would not give us.

use std::fmt::Display;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, Problem, Source, Suggestion};
use super::units::{UnitError, parse_duration, parse_size};

/// A spanned TOML value as toml's parser gives it.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// One table of the document, with enough context to explain its errors.
pub(super) struct Table<'a, 'i> {
    src: &'a Source<'a>,
    entries: &'a DeTable<'i>,
    span: Range<usize>,
    path: String,
    label: &'static str,
}

impl<'a, 'i> Table<'a, 'i> {
    /// `path` prefixes key names in messages (`apps[0]`); `label` names the
    /// table in unknown-key messages (`[[apps]]`).
    pub fn new(
        src: &'a Source<'a>,
        entries: &'a DeTable<'i>,
        span: Range<usize>,
        path: String,
        label: &'static str,
    ) -> Self {
        Self {
            src,
            entries,
            span,
            path,
            label,
        }
    }

    /// The dotted path of `key` in this table, as messages show it.
    pub fn key_path(&self, key: &str) -> String {
        match self.path.as_str() {
            "" => key.to_owned(),
            path => format!("{path}.{key}"),
        }
    }

    /// Refuses the first key (in file order) that is neither in `known` nor
    /// accepted by `dynamic`, suggesting the closest known key.
    pub fn reject_unknown(
        &self,
        known: &'static [&'static str],
        dynamic: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        let first = self
            .entries
            .keys()
            .filter(|key| !known.contains(&key.get_ref().as_ref()) && !dynamic(key.get_ref()))
            .min_by_key(|key| key.span().start);
        match first {
            None => Ok(()),
            Some(key) => Err(self.src.at(
                key.span(),
                Problem::UnknownKey {
                    key: key.get_ref().to_string(),
                    table: self.label.to_owned(),
                    suggestion: Suggestion::for_key(key.get_ref(), known),
                },
            )),
        }
    }

    /// Every key with its value, for tables whose keys are data (`env`).
    pub fn entries(&self) -> impl Iterator<Item = (&'a str, &'a Value<'i>)> {
        self.entries.iter().map(|(k, v)| (k.get_ref().as_ref(), v))
    }

    /// The raw value of `key`, for reads this type has no helper for.
    pub fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.entries.get(key)
    }

    /// Fails with `MissingKey` pointing at this table's header.
    pub fn required<T>(&self, key: &'static str, value: Option<T>) -> Result<T, ConfigError> {
        value.ok_or_else(|| {
            let table = self.path.clone();
            self.src
                .at(self.span.clone(), Problem::MissingKey { table, key })
        })
    }

    /// An error at `value` about `key` of this table.
    pub fn invalid(&self, key: &str, value: &Value<'_>, reason: impl Display) -> ConfigError {
        let key = self.key_path(key);
        let reason = reason.to_string();
        self.src
            .at(value.span(), Problem::InvalidValue { key, reason })
    }

    /// An error saying `value` has the wrong TOML type for `key`.
    pub fn wrong_type(&self, key: &str, value: &Value<'_>, expected: &'static str) -> ConfigError {
        let found = describe(value.get_ref());
        let key = self.key_path(key);
        self.src.at(
            value.span(),
            Problem::WrongType {
                key,
                expected,
                found,
            },
        )
    }

    /// A string value.
    pub fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.parsed(key, "value", |s| Ok::<_, UnitError>(s.to_owned()))
    }

    /// A string value turned into `T` by `parse`; `what` names it in errors
    /// (`invalid duration "5 parsecs": ...`).
    pub fn parsed<T, E: Display>(
        &self,
        key: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Some(text) = value.get_ref().as_str() else {
            return Err(self.wrong_type(key, value, "a string"));
        };
        parse(text)
            .map(Some)
            .map_err(|e| self.invalid(key, value, format!("invalid {what} {text:?}: {e}")))
    }

    /// A boolean value.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match value.get_ref().as_bool() {
            Some(b) => Ok(Some(b)),
            None => Err(self.wrong_type(key, value, "true or false")),
        }
    }

    /// An integer within `range`, which the message spells out when violated.
    pub fn integer(&self, key: &str, range: Range<i64>) -> Result<Option<i64>, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Some(number) = as_integer(value.get_ref()) else {
            return Err(self.wrong_type(key, value, "an integer"));
        };
        if !range.contains(&number) {
            let (low, high) = (range.start, range.end - 1);
            return Err(self.invalid(key, value, format!("{number} is not in {low}..={high}")));
        }
        Ok(Some(number))
    }

    /// A whole number of type `u32`, between `min` and `u32::MAX`.
    pub fn u32_from(&self, key: &str, min: u32) -> Result<Option<u32>, ConfigError> {
        let range = i64::from(min)..i64::from(u32::MAX) + 1;
        Ok(self.integer(key, range)?.map(|n| n as u32))
    }

    /// A duration string; a bare number is refused because its unit would be a guess.
    pub fn duration(&self, key: &str) -> Result<Option<std::time::Duration>, ConfigError> {
        let value = self.get(key);
        if let Some((value, number)) = value.and_then(|v| Some((v, as_integer(v.get_ref())?))) {
            let reason = format!("invalid duration {number}: {}", UnitError::MissingUnit);
            return Err(self.invalid(key, value, reason));
        }
        self.parsed(key, "duration", parse_duration)
    }

    /// A size string like `"512M"`, or a plain integer of bytes.
    pub fn size(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        if self
            .get(key)
            .and_then(|v| as_integer(v.get_ref()))
            .is_some()
        {
            return Ok(self.integer(key, 1..i64::MAX)?.map(|n| n as u64));
        }
        self.parsed(key, "size", parse_size)
    }

    /// Each string of an array, turned into `T` by `parse`.
    pub fn list<T, E: Display>(
        &self,
        key: &str,
        what: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<Vec<T>>, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Some(items) = value.get_ref().as_array() else {
            return Err(self.wrong_type(key, value, "an array of strings"));
        };
        let items = items.iter().enumerate().map(|(i, item)| {
            let item_key = format!("{key}[{i}]");
            let Some(text) = item.get_ref().as_str() else {
                return Err(self.wrong_type(&item_key, item, "a string"));
            };
            parse(text)
                .map_err(|e| self.invalid(&item_key, item, format!("invalid {what} {text:?}: {e}")))
        });
        items.collect::<Result<_, _>>().map(Some)
    }

    /// A nested table; inline (`key = { ... }`) or with its own `[header]`.
    pub fn table(&self, key: &str, label: &'static str) -> Result<Option<Self>, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Some(entries) = value.get_ref().as_table() else {
            return Err(self.wrong_type(key, value, "a table"));
        };
        let path = self.key_path(key);
        Ok(Some(Self::new(
            self.src,
            entries,
            value.span(),
            path,
            label,
        )))
    }
}

/// Reads an integer the way TOML wrote it (any radix, any sign).
pub(super) fn as_integer(value: &DeValue<'_>) -> Option<i64> {
    let integer = value.as_integer()?;
    i64::from_str_radix(integer.as_str(), integer.radix()).ok()
}

/// The TOML type of `value`, as a phrase for "expected X, found Y".
fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}
