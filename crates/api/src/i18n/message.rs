//! A message for a person in either language: the English as the error
//! itself says it, and the catalogue key and values its French is made of.
//! Built only from a key, so that no message reaches a page untranslated.

use std::fmt;

use super::{Lang, fill};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    english: String,
    key: &'static str,
    args: Vec<(&'static str, Arg)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    /// Shown as it is (an id, a header, a detail from a library).
    Text(String),
    /// A whole number, grouped as the language writes it.
    Number(u64),
    /// A word the catalogue translates as `term.<word>` (a field's name).
    Term(&'static str),
    /// Another message, in the same language.
    Message(Box<Message>),
    /// Words the catalogue translates, joined by commas.
    Terms(Vec<&'static str>),
}

impl Message {
    /// The message `key` of the `api` catalogue; `english` is what the
    /// error says (its `Display`).
    pub fn new(key: &'static str, english: impl fmt::Display) -> Self {
        Self {
            english: english.to_string(),
            key,
            args: Vec::new(),
        }
    }

    pub fn text(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.args.push((name, Arg::Text(value.to_string())));
        self
    }

    pub fn number(mut self, name: &'static str, value: impl TryInto<u64>) -> Self {
        let value = value.try_into().unwrap_or(u64::MAX);
        self.args.push((name, Arg::Number(value)));
        self
    }

    pub fn term(mut self, name: &'static str, word: &'static str) -> Self {
        self.args.push((name, Arg::Term(word)));
        self
    }

    pub fn terms(mut self, name: &'static str, words: Vec<&'static str>) -> Self {
        self.args.push((name, Arg::Terms(words)));
        self
    }

    pub fn message(mut self, name: &'static str, inner: Message) -> Self {
        self.args.push((name, Arg::Message(Box::new(inner))));
        self
    }

    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The names of the values given, in the order given.
    pub fn arg_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.args.iter().map(|(name, _)| *name)
    }

    /// The message in `lang`: the English as the error said it; another
    /// language's from its catalogue, or the English should the key be
    /// missing (a test keeps every key there).
    pub fn render(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.english.clone();
        }
        let Some(template) = lang.catalogue().api.get(self.key) else {
            return self.english.clone();
        };
        let args: Vec<(&str, String)> = self
            .args
            .iter()
            .map(|(name, arg)| (*name, arg.render(lang)))
            .collect();
        fill(template, &args)
    }
}

impl Arg {
    fn render(&self, lang: Lang) -> String {
        match self {
            Arg::Text(text) => text.clone(),
            Arg::Number(value) => lang.number(*value),
            Arg::Term(word) => term(lang, word),
            Arg::Message(inner) => inner.render(lang),
            Arg::Terms(words) => words
                .iter()
                .map(|word| term(lang, word))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

fn term(lang: Lang, word: &str) -> String {
    lang.catalogue()
        .api
        .get(&format!("term.{word}"))
        .cloned()
        .unwrap_or_else(|| word.to_owned())
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.english)
    }
}
