//! CloudFormation's intrinsic functions and conditions, evaluated for one
//! stack: parameters, pseudo parameters and the values its resources have.

use std::cell::RefCell;
use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::StackError;

/// What `Ref` and `Fn::GetAtt` give for one resource.
#[derive(Debug, Clone, Default)]
pub struct ResourceValues {
    pub reference: Option<Value>,
    pub attributes: BTreeMap<String, Value>,
    /// A custom resource: its attributes are the `Data` of its answer,
    /// known once it has run (see [`deferred_attribute`]).
    pub deferred: bool,
}

const DEFERRED_OPEN: &str = "{{deployed:";
const DEFERRED_CLOSE: &str = "}}";

/// What `Fn::GetAtt` gives for an attribute of a custom resource before it
/// has run, and `Ref` for a function version before it is published: a
/// placeholder the runtime replaces with the deployed value.
pub fn deferred_attribute(resource: &str, attribute: &str) -> String {
    format!("{DEFERRED_OPEN}{resource}.{attribute}{DEFERRED_CLOSE}")
}

/// `text` with each placeholder replaced by `value(resource, attribute)`.
pub fn replace_deferred<E>(
    text: &str,
    mut value: impl FnMut(&str, &str) -> Result<String, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(DEFERRED_OPEN) {
        let after = &rest[start + DEFERRED_OPEN.len()..];
        let Some(end) = after.find(DEFERRED_CLOSE) else {
            break;
        };
        let Some((resource, attribute)) = after[..end].split_once('.') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&value(resource, attribute)?);
        rest = &after[end + DEFERRED_CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves intrinsic functions against a stack's values.
pub struct Resolver<'a> {
    pub(crate) parameters: &'a BTreeMap<String, Value>,
    pub(crate) pseudo: &'a BTreeMap<&'static str, Value>,
    pub(crate) conditions: &'a Map<String, Value>,
    pub(crate) mappings: &'a Map<String, Value>,
    pub(crate) resources: &'a BTreeMap<String, ResourceValues>,
    pub(crate) region: &'a str,
    condition_values: RefCell<BTreeMap<String, bool>>,
}

const NO_VALUE: &str = "AWS::NoValue";

impl<'a> Resolver<'a> {
    pub(crate) fn new(
        parameters: &'a BTreeMap<String, Value>,
        pseudo: &'a BTreeMap<&'static str, Value>,
        conditions: &'a Map<String, Value>,
        mappings: &'a Map<String, Value>,
        resources: &'a BTreeMap<String, ResourceValues>,
        region: &'a str,
    ) -> Self {
        Self {
            parameters,
            pseudo,
            conditions,
            mappings,
            resources,
            region,
            condition_values: RefCell::new(BTreeMap::new()),
        }
    }

    /// `value` with every intrinsic function evaluated; `None` when it is
    /// `AWS::NoValue`. Keys and items that resolve to `AWS::NoValue` are
    /// dropped, as CloudFormation drops them.
    pub fn resolve(&self, value: &Value) -> Result<Option<Value>, StackError> {
        match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(resolved) = self.resolve(item)? {
                        out.push(resolved);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(object) if object.len() == 1 => {
                let (key, argument) = object.iter().next().expect("one entry");
                match key.as_str() {
                    "Ref" => self.reference(argument),
                    "Fn::GetAtt" => self.get_att(argument).map(Some),
                    "Fn::Sub" => self.sub(argument).map(|s| Some(Value::String(s))),
                    "Fn::Join" => self.join(argument).map(|s| Some(Value::String(s))),
                    "Fn::Split" => self.split(argument).map(Some),
                    "Fn::Select" => self.select(argument),
                    "Fn::If" => self.fn_if(argument),
                    "Fn::FindInMap" => self.find_in_map(argument).map(Some),
                    "Fn::GetAZs" => Ok(Some(self.azs())),
                    "Fn::Base64" => {
                        let text = self.string(argument, "Fn::Base64")?;
                        Ok(Some(Value::String(
                            base64::engine::general_purpose::STANDARD.encode(text),
                        )))
                    }
                    "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                        self.truth(value).map(|b| Some(Value::Bool(b)))
                    }
                    other if other.starts_with("Fn::") => Err(StackError::Unsupported(format!(
                        "the intrinsic function {other}"
                    ))),
                    _ => self.object(object),
                }
            }
            Value::Object(object) => self.object(object),
            scalar => Ok(Some(scalar.clone())),
        }
    }

    /// Like [`Resolver::resolve`], where `AWS::NoValue` is not allowed.
    pub fn value(&self, value: &Value, what: &str) -> Result<Value, StackError> {
        self.resolve(value)?
            .ok_or_else(|| StackError::Invalid(format!("{what} resolves to AWS::NoValue")))
    }

    /// A resolved scalar as CloudFormation hands it to a resource: a string.
    pub fn string(&self, value: &Value, what: &str) -> Result<String, StackError> {
        match self.value(value, what)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(StackError::Invalid(format!(
                "{what} must be a string, not {other}"
            ))),
        }
    }

    fn object(&self, object: &Map<String, Value>) -> Result<Option<Value>, StackError> {
        let mut out = Map::new();
        for (key, value) in object {
            if let Some(resolved) = self.resolve(value)? {
                out.insert(key.clone(), resolved);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    fn reference(&self, argument: &Value) -> Result<Option<Value>, StackError> {
        let name = argument
            .as_str()
            .ok_or_else(|| StackError::Invalid(format!("Ref needs a name, not {argument}")))?;
        if name == NO_VALUE {
            return Ok(None);
        }
        self.named(name).map(Some)
    }

    /// What `Ref name` (and `${name}` in `Fn::Sub`) gives.
    fn named(&self, name: &str) -> Result<Value, StackError> {
        if let Some(value) = self.pseudo.get(name) {
            return Ok(value.clone());
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        match self.resources.get(name) {
            Some(ResourceValues {
                reference: Some(value),
                ..
            }) => Ok(value.clone()),
            Some(_) => Err(StackError::Unsupported(format!(
                "Ref {name}: the local stack has no value for this resource"
            ))),
            None => Err(StackError::Invalid(format!(
                "Ref {name}: no parameter, pseudo parameter or resource has that name"
            ))),
        }
    }

    fn get_att(&self, argument: &Value) -> Result<Value, StackError> {
        let parts: Vec<String> = match argument {
            Value::Array(items) if items.len() == 2 => items
                .iter()
                .map(|item| self.string(item, "Fn::GetAtt"))
                .collect::<Result<_, _>>()?,
            other => {
                return Err(StackError::Invalid(format!(
                    "Fn::GetAtt needs [resource, attribute], not {other}"
                )));
            }
        };
        self.attribute(&parts[0], &parts[1])
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<Value, StackError> {
        let values = self.resources.get(resource).ok_or_else(|| {
            StackError::Invalid(format!(
                "Fn::GetAtt {resource}.{attribute}: no resource {resource}"
            ))
        })?;
        if values.deferred {
            return Ok(Value::String(deferred_attribute(resource, attribute)));
        }
        values.attributes.get(attribute).cloned().ok_or_else(|| {
            StackError::Unsupported(format!(
                "Fn::GetAtt {resource}.{attribute}: the local stack has no value for this attribute"
            ))
        })
    }

    fn sub(&self, argument: &Value) -> Result<String, StackError> {
        let (text, variables) = match argument {
            Value::String(text) => (text.as_str(), Map::new()),
            Value::Array(items) if items.len() == 2 => {
                let text = items[0].as_str().ok_or_else(|| {
                    StackError::Invalid("Fn::Sub's first item must be a string".into())
                })?;
                let variables = items[1].as_object().cloned().ok_or_else(|| {
                    StackError::Invalid("Fn::Sub's second item must be a map".into())
                })?;
                (text, variables)
            }
            other => {
                return Err(StackError::Invalid(format!(
                    "Fn::Sub needs a string or [string, map], not {other}"
                )));
            }
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| StackError::Invalid(format!("Fn::Sub: unclosed ${{ in {text:?}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(&self.string(value, &format!("Fn::Sub variable {name}"))?);
            } else if !name.contains("::")
                && let Some((resource, attribute)) = name.split_once('.')
            {
                out.push_str(&scalar(&self.attribute(resource, attribute)?, name)?);
            } else {
                out.push_str(&scalar(&self.named(name)?, name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn join(&self, argument: &Value) -> Result<String, StackError> {
        let [separator, items] = pair(argument, "Fn::Join")?;
        let separator = self.string(separator, "Fn::Join separator")?;
        let items = match self.value(items, "Fn::Join list")? {
            Value::Array(items) => items,
            other => {
                return Err(StackError::Invalid(format!(
                    "Fn::Join needs a list, not {other}"
                )));
            }
        };
        let parts: Vec<String> = items
            .iter()
            .map(|item| scalar(item, "Fn::Join item"))
            .collect::<Result<_, _>>()?;
        Ok(parts.join(&separator))
    }

    fn split(&self, argument: &Value) -> Result<Value, StackError> {
        let [separator, source] = pair(argument, "Fn::Split")?;
        let separator = self.string(separator, "Fn::Split separator")?;
        let source = self.string(source, "Fn::Split source")?;
        Ok(Value::Array(
            source
                .split(separator.as_str())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ))
    }

    fn select(&self, argument: &Value) -> Result<Option<Value>, StackError> {
        let [index, list] = pair(argument, "Fn::Select")?;
        let index: usize = self
            .string(index, "Fn::Select index")?
            .parse()
            .map_err(|_| StackError::Invalid("Fn::Select index must be a number".into()))?;
        match self.value(list, "Fn::Select list")? {
            Value::Array(items) => items.get(index).cloned().map(Some).ok_or_else(|| {
                StackError::Invalid(format!("Fn::Select: no item {index} in {items:?}"))
            }),
            other => Err(StackError::Invalid(format!(
                "Fn::Select needs a list, not {other}"
            ))),
        }
    }

    fn fn_if(&self, argument: &Value) -> Result<Option<Value>, StackError> {
        match argument {
            Value::Array(items) if items.len() == 3 => {
                let name = items[0].as_str().ok_or_else(|| {
                    StackError::Invalid("Fn::If needs a condition name first".into())
                })?;
                if self.condition(name)? {
                    self.resolve(&items[1])
                } else {
                    self.resolve(&items[2])
                }
            }
            other => Err(StackError::Invalid(format!(
                "Fn::If needs [condition, then, else], not {other}"
            ))),
        }
    }

    fn find_in_map(&self, argument: &Value) -> Result<Value, StackError> {
        let keys: Vec<String> = match argument {
            Value::Array(items) if items.len() == 3 => items
                .iter()
                .map(|item| self.string(item, "Fn::FindInMap key"))
                .collect::<Result<_, _>>()?,
            other => {
                return Err(StackError::Invalid(format!(
                    "Fn::FindInMap needs [map, key, key], not {other}"
                )));
            }
        };
        self.mappings
            .get(&keys[0])
            .and_then(|map| map.get(&keys[1]))
            .and_then(|map| map.get(&keys[2]))
            .cloned()
            .ok_or_else(|| StackError::Invalid(format!("Fn::FindInMap: no value at {keys:?}")))
    }

    /// Three zones, as a region has at least.
    fn azs(&self) -> Value {
        Value::Array(
            ["a", "b", "c"]
                .iter()
                .map(|zone| Value::String(format!("{}{zone}", self.region)))
                .collect(),
        )
    }

    /// The value of a named condition of the template.
    pub fn condition(&self, name: &str) -> Result<bool, StackError> {
        if let Some(value) = self.condition_values.borrow().get(name) {
            return Ok(*value);
        }
        let definition = self
            .conditions
            .get(name)
            .ok_or_else(|| StackError::Invalid(format!("no condition {name}")))?;
        let value = self.truth(definition)?;
        self.condition_values
            .borrow_mut()
            .insert(name.to_owned(), value);
        Ok(value)
    }

    /// A condition expression: `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`,
    /// `Condition`, and in `Rules` `Fn::Contains`.
    pub fn truth(&self, expression: &Value) -> Result<bool, StackError> {
        let invalid = || StackError::Invalid(format!("{expression} is not a condition"));
        let object = expression
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(invalid)?;
        let (key, argument) = object.iter().next().expect("one entry");
        let list = || argument.as_array().ok_or_else(invalid);
        match key.as_str() {
            "Condition" => self.condition(argument.as_str().ok_or_else(invalid)?),
            "Fn::Equals" => {
                let [a, b] = pair(argument, "Fn::Equals")?;
                let a = self
                    .resolve(a)?
                    .map(|v| scalar(&v, "Fn::Equals").unwrap_or_default());
                let b = self
                    .resolve(b)?
                    .map(|v| scalar(&v, "Fn::Equals").unwrap_or_default());
                Ok(a == b)
            }
            "Fn::Not" => match list()?.as_slice() {
                [inner] => self.truth(inner).map(|b| !b),
                _ => Err(invalid()),
            },
            "Fn::And" => {
                for inner in list()? {
                    if !self.truth(inner)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            "Fn::Or" => {
                for inner in list()? {
                    if self.truth(inner)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            // Rules only: whether a list of strings holds a string.
            "Fn::Contains" => {
                let [items, item] = pair(argument, "Fn::Contains")?;
                let item = scalar(&self.resolve(item)?.unwrap_or_default(), "Fn::Contains")?;
                match self.resolve(items)? {
                    Some(Value::Array(items)) => Ok(items
                        .iter()
                        .any(|i| scalar(i, "Fn::Contains").is_ok_and(|i| i == item))),
                    _ => Err(invalid()),
                }
            }
            _ => Err(invalid()),
        }
    }
}

fn pair<'v>(argument: &'v Value, what: &str) -> Result<[&'v Value; 2], StackError> {
    match argument {
        Value::Array(items) if items.len() == 2 => Ok([&items[0], &items[1]]),
        other => Err(StackError::Invalid(format!(
            "{what} needs two items, not {other}"
        ))),
    }
}

/// A scalar as text, as CloudFormation joins and substitutes it.
pub(crate) fn scalar(value: &Value, what: &str) -> Result<String, StackError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(StackError::Invalid(format!(
            "{what}: {other} is not a string"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Fixture {
        parameters: BTreeMap<String, Value>,
        pseudo: BTreeMap<&'static str, Value>,
        conditions: Map<String, Value>,
        mappings: Map<String, Value>,
        resources: BTreeMap<String, ResourceValues>,
    }

    impl Fixture {
        fn new() -> Self {
            let mut resources = BTreeMap::new();
            resources.insert(
                "Bucket".to_owned(),
                ResourceValues {
                    reference: Some(json!("photos")),
                    attributes: BTreeMap::from([("Arn".to_owned(), json!("arn:aws:s3:::photos"))]),
                    deferred: false,
                },
            );
            Self {
                parameters: BTreeMap::from([("Stage".to_owned(), json!("dev"))]),
                pseudo: BTreeMap::from([
                    ("AWS::Region", json!("us-east-1")),
                    ("AWS::Partition", json!("aws")),
                ]),
                conditions: json!({
                    "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
                    "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
                })
                .as_object()
                .unwrap()
                .clone(),
                mappings: json!({"M": {"us-east-1": {"Id": "1"}}})
                    .as_object()
                    .unwrap()
                    .clone(),
                resources,
            }
        }

        fn resolver(&self) -> Resolver<'_> {
            Resolver::new(
                &self.parameters,
                &self.pseudo,
                &self.conditions,
                &self.mappings,
                &self.resources,
                "us-east-1",
            )
        }
    }

    #[test]
    fn functions_resolve_as_cloudformation_resolves_them() {
        let fixture = Fixture::new();
        let resolver = fixture.resolver();
        let resolved = resolver
            .resolve(&json!({
                "sub": {"Fn::Sub": "${Bucket.Arn}/*-${Stage}-${!Literal}"},
                "subVars": {"Fn::Sub": ["x-${R}", {"R": {"Fn::Join": ["", {"Fn::Split": ["-", {"Ref": "AWS::Region"}]}]}}]},
                "if": {"Fn::If": ["IsDev", "cheap", "safe"]},
                "gone": {"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]},
                "list": ["a", {"Ref": "AWS::NoValue"}, {"Fn::Select": [1, {"Fn::GetAZs": ""}]}],
                "map": {"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "Id"]},
            }))
            .unwrap()
            .unwrap();
        assert_eq!(
            resolved,
            json!({
                "sub": "arn:aws:s3:::photos/*-dev-${Literal}",
                "subVars": "x-useast1",
                "if": "cheap",
                "list": ["a", "us-east-1b"],
                "map": "1",
            })
        );
    }

    #[test]
    fn what_cannot_be_resolved_is_named() {
        let fixture = Fixture::new();
        let resolver = fixture.resolver();
        let error = resolver
            .resolve(&json!({"Fn::GetAtt": ["Bucket", "DomainName"]}))
            .unwrap_err();
        assert!(error.to_string().contains("Bucket.DomainName"), "{error}");
        let error = resolver.resolve(&json!({"Ref": "Nothing"})).unwrap_err();
        assert!(error.to_string().contains("Nothing"), "{error}");
        let error = resolver
            .resolve(&json!({"Fn::ImportValue": "x"}))
            .unwrap_err();
        assert!(error.to_string().contains("Fn::ImportValue"), "{error}");
    }
}

#[cfg(test)]
mod deferred_tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_by_the_answers_values() {
        let text = format!(
            "keys={} and {}",
            deferred_attribute("Keys", "Jwks"),
            deferred_attribute("Other", "A")
        );
        let replaced = replace_deferred(&text, |resource, attribute| {
            Ok::<_, ()>(format!("<{resource}/{attribute}>"))
        })
        .unwrap();
        assert_eq!(replaced, "keys=<Keys/Jwks> and <Other/A>");
        assert_eq!(
            replace_deferred("plain", |_, _| Err::<String, ()>(())).unwrap(),
            "plain"
        );
        assert!(replace_deferred(&text, |_, _| Err::<String, &str>("missing")).is_err());
    }
}
