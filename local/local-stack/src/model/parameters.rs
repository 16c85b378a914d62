//! The stack's parameters as CloudFormation takes them (defaults, overrides,
//! their constraints) and the template's `Rules`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::StackError;
use crate::intrinsics::scalar;

impl<'t> Builder<'t> {
    /// Defaults and overrides, checked as CloudFormation checks them.
    pub(super) fn parameters(&self) -> Result<BTreeMap<String, Value>, StackError> {
        let declared = self.section("Parameters")?;
        if let Some(unknown) = self
            .settings
            .parameters
            .keys()
            .find(|name| !declared.contains_key(*name))
        {
            return Err(StackError::Parameter {
                name: unknown.clone(),
                reason: "the template declares no such parameter".into(),
            });
        }
        let mut values = BTreeMap::new();
        for (name, declaration) in declared {
            let fail = |reason: String| StackError::Parameter {
                name: name.clone(),
                reason,
            };
            let value = match self.settings.parameters.get(name) {
                Some(value) => value.clone(),
                None => match declaration.get("Default") {
                    Some(default) => scalar(default, name).map_err(|e| fail(e.to_string()))?,
                    None => return Err(fail("needs a value (it has no default)".into())),
                },
            };
            check_parameter(declaration, &value).map_err(fail)?;
            let kind = declaration
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("String");
            let value = if kind.starts_with("List<") || kind == "CommaDelimitedList" {
                Value::Array(value.split(',').map(|s| json!(s.trim())).collect())
            } else {
                Value::String(value)
            };
            values.insert(name.clone(), value);
        }
        Ok(values)
    }

    pub(super) fn check_rules(&self) -> Result<(), StackError> {
        let no_resources = BTreeMap::new();
        let resolver = self.resolver(&no_resources)?;
        for (name, rule) in self.section("Rules")? {
            if let Some(condition) = rule.get("RuleCondition")
                && !resolver.truth(condition)?
            {
                continue;
            }
            for assertion in rule
                .get("Assertions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let holds = assertion
                    .get("Assert")
                    .map(|a| resolver.truth(a))
                    .transpose()?
                    .unwrap_or(true);
                if !holds {
                    return Err(StackError::Rule {
                        rule: name.clone(),
                        description: assertion
                            .get("AssertDescription")
                            .and_then(Value::as_str)
                            .unwrap_or("an assertion does not hold")
                            .to_owned(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// `AllowedValues`, `AllowedPattern`, lengths and bounds, as CloudFormation
/// checks a parameter's value.
pub(super) fn check_parameter(declaration: &Value, value: &str) -> Result<(), String> {
    if let Some(allowed) = declaration.get("AllowedValues").and_then(Value::as_array)
        && !allowed
            .iter()
            .any(|a| scalar(a, "").is_ok_and(|a| a == value))
    {
        let allowed: Vec<String> = allowed
            .iter()
            .filter_map(|a| scalar(a, "").ok())
            .map(|a| format!("{a:?}"))
            .collect();
        return Err(format!("{value:?} is not one of {}", allowed.join(", ")));
    }
    if let Some(pattern) = declaration.get("AllowedPattern").and_then(Value::as_str) {
        let anchored = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("AllowedPattern {pattern:?} is not a pattern: {e}"))?;
        if !anchored.is_match(value) {
            let why = declaration
                .get("ConstraintDescription")
                .and_then(Value::as_str)
                .unwrap_or(pattern);
            return Err(format!("{value:?} does not match: {why}"));
        }
    }
    let bound = |name: &str| {
        declaration
            .get(name)
            .and_then(|v| scalar(v, name).ok()?.parse::<f64>().ok())
    };
    if declaration.get("Type").and_then(Value::as_str) == Some("Number") {
        let number: f64 = value
            .parse()
            .map_err(|_| format!("{value:?} is not a number"))?;
        if bound("MinValue").is_some_and(|min| number < min)
            || bound("MaxValue").is_some_and(|max| number > max)
        {
            return Err(format!("{value} is out of bounds"));
        }
    }
    let length = value.chars().count() as f64;
    if bound("MinLength").is_some_and(|min| length < min)
        || bound("MaxLength").is_some_and(|max| length > max)
    {
        return Err(format!("{value:?} has a length out of bounds"));
    }
    Ok(())
}
