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
                    key: written_key(key.get_ref()),
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

    /// An integer from `min` to `max`; outside them the message states the
    /// rule in words (`must be between 1 and 65535, got 0`).
    pub fn integer(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let DeValue::Integer(_) = value.get_ref() else {
            return Err(self.wrong_type(key, value, "an integer"));
        };
        // Beyond i64 the number is out of any range; its sign says which end.
        let written = self.src.text.get(value.span()).unwrap_or_default().trim();
        let below = match as_integer(value.get_ref()) {
            Some(n) if (min..=max).contains(&n) => return Ok(Some(n)),
            Some(n) => n < min,
            None => written.starts_with('-'),
        };
        let reason = bounds_message(min, max, below);
        Err(self.invalid(key, value, format!("{reason}, got {written}")))
    }

    /// A whole number of type `u32`, between `min` and `u32::MAX`.
    pub fn u32_from(&self, key: &str, min: u32) -> Result<Option<u32>, ConfigError> {
        let max = i64::from(u32::MAX);
        Ok(self.integer(key, i64::from(min), max)?.map(|n| n as u32))
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

    /// A duration that must not be zero: a timer that fires at once, every
    /// time, can only be a mistake.
    pub fn positive_duration(&self, key: &str) -> Result<Option<std::time::Duration>, ConfigError> {
        let duration = self.duration(key)?;
        match (duration, self.get(key)) {
            (Some(d), Some(value)) if d.is_zero() => {
                Err(self.invalid(key, value, "must be longer than 0"))
            }
            _ => Ok(duration),
        }
    }

    /// A size string like `"512M"`, or a plain integer of bytes; at least
    /// 1 byte either way, since a zero limit can only be a mistake.
    pub fn size(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let bytes = match value.get_ref() {
            DeValue::Integer(_) => {
                let written = self.src.text.get(value.span()).unwrap_or_default().trim();
                let bytes = as_integer(value.get_ref())
                    .ok_or(UnitError::TooLarge)
                    .and_then(|n| u64::try_from(n).map_err(|_| UnitError::Negative));
                match bytes {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        let reason = format!("invalid size {written}: {e}");
                        return Err(self.invalid(key, value, reason));
                    }
                }
            }
            _ => self.parsed(key, "size", parse_size)?.unwrap_or_default(),
        };
        if bytes == 0 {
            return Err(self.invalid(key, value, "must be at least 1 byte"));
        }
        Ok(Some(bytes))
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

/// `key` as TOML writes it: bare when it can be, else quoted and escaped
/// on one line. Keys are data in `env` tables and typos anywhere, so a
/// message or `corral check` that showed one raw could span lines, or
/// print a key that does not load back.
pub(super) fn written_key(key: &str) -> String {
    toml_writer::ToTomlKey::to_toml_key(key)
}

/// Reads an integer the way TOML wrote it (any radix, any sign).
pub(super) fn as_integer(value: &DeValue<'_>) -> Option<i64> {
    let integer = value.as_integer()?;
    i64::from_str_radix(integer.as_str(), integer.radix()).ok()
}

/// The rule an integer outside `min..=max` broke, in words. A `max` of
/// `u32::MAX` or more is the storage type's limit rather than a rule, so a
/// number below `min` is told only about `min`.
fn bounds_message(min: i64, max: i64, below: bool) -> String {
    let open_ended = max >= i64::from(u32::MAX);
    match (open_ended, below) {
        (false, _) => format!("must be between {min} and {max}"),
        (true, true) if min == 0 => "must not be negative".to_owned(),
        (true, true) => format!("must be at least {min}"),
        (true, false) => format!("must be at most {max}"),
    }
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
