//! S3 event notification records, shaped exactly as Amazon S3 sends them.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use aws_lambda_events::s3::{
    S3Bucket, S3Entity, S3Event, S3EventRecord, S3Object, S3RequestParameters, S3UserIdentity,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// `eventVersion` of the records S3 sends today.
pub const EVENT_VERSION: &str = "2.1";
/// `eventSource` of every S3 record.
pub const EVENT_SOURCE: &str = "aws:s3";
/// `s3.s3SchemaVersion` of every S3 record.
pub const S3_SCHEMA_VERSION: &str = "1.0";

/// The S3 operation that created an object; it names the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectCreated {
    Put,
    Post,
    Copy,
    CompleteMultipartUpload,
}

impl ObjectCreated {
    /// The record's `eventName`, e.g. `ObjectCreated:Put`.
    #[must_use]
    pub fn event_name(self) -> &'static str {
        match self {
            Self::Put => "ObjectCreated:Put",
            Self::Post => "ObjectCreated:Post",
            Self::Copy => "ObjectCreated:Copy",
            Self::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
        }
    }
}

impl fmt::Display for ObjectCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.event_name())
    }
}

/// Encodes an object key the way S3 writes it into event records:
/// `application/x-www-form-urlencoded` per path segment (space becomes `+`,
/// everything but ASCII alphanumerics and `*-._` is percent-encoded as UTF-8),
/// with the `/` separators left as they are.
#[must_use]
pub fn encode_event_key(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for (index, segment) in key.split('/').enumerate() {
        if index > 0 {
            encoded.push('/');
        }
        encoded.extend(form_urlencoded::byte_serialize(segment.as_bytes()));
    }
    encoded
}

/// A key in an event record that does not decode to UTF-8 text.
#[derive(Debug, thiserror::Error)]
#[error("event key {encoded:?} does not decode to UTF-8: {source}")]
pub struct KeyDecodeError {
    encoded: String,
    #[source]
    source: std::str::Utf8Error,
}

/// Reverses [`encode_event_key`]: `+` is a space, `%XX` a byte.
pub fn decode_event_key(encoded: &str) -> Result<String, KeyDecodeError> {
    let spaced = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|source| KeyDecodeError {
            encoded: encoded.to_owned(),
            source,
        })
}

/// Width of every sequencer this store issues. A fixed width keeps S3's
/// comparison rule (right-pad, then compare as text) equal to numeric order.
pub const SEQUENCER_WIDTH: usize = 18;

/// Issues `sequencer` values that strictly increase, also across restarts
/// (they start from the wall clock in nanoseconds).
#[derive(Debug, Default)]
pub struct SequencerClock {
    last: AtomicU64,
}

impl SequencerClock {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The next sequencer: 18 upper-case hex digits, greater than every
    /// value this clock issued before.
    pub fn next_sequencer(&self) -> String {
        let now = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap_or_default()).unwrap_or(0);
        let previous = self
            .last
            .fetch_update(AtomicOrdering::SeqCst, AtomicOrdering::SeqCst, |last| {
                Some(now.max(last.saturating_add(1)))
            })
            .unwrap_or_else(|last| last);
        let issued = now.max(previous.saturating_add(1));
        format!("{issued:0width$X}", width = SEQUENCER_WIDTH)
    }
}

/// Orders two sequencers of the same key as S3 documents it: the shorter is
/// right-padded with zeros, then both compare as (case-insensitive) hex text.
#[must_use]
pub fn compare_sequencers(a: &str, b: &str) -> Ordering {
    let width = a.len().max(b.len());
    let padded = |s: &str| {
        s.bytes()
            .map(|c| c.to_ascii_uppercase())
            .chain(std::iter::repeat(b'0'))
            .take(width)
            .collect::<Vec<u8>>()
    };
    padded(a).cmp(&padded(b))
}

/// Everything that identifies one object creation.
#[derive(Debug, Clone)]
pub struct ObjectCreation {
    pub kind: ObjectCreated,
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    pub e_tag: Option<String>,
    /// The new version, in a versioned bucket.
    pub version_id: Option<String>,
    pub sequencer: String,
    pub event_time: DateTime<Utc>,
    pub source_ip: Option<IpAddr>,
    pub request_id: String,
    pub host_id: String,
}

/// The store-wide values every record carries.
#[derive(Debug, Clone)]
pub struct EventContext {
    pub region: String,
    pub principal_id: String,
}

/// Builds the one-record `S3Event` S3 sends for an object creation, for the
/// notification `configuration_id`.
#[must_use]
pub fn object_created_event(
    context: &EventContext,
    configuration_id: &str,
    creation: &ObjectCreation,
) -> S3Event {
    let mut owner = S3UserIdentity::default();
    owner.principal_id = Some(context.principal_id.clone());

    let mut bucket = S3Bucket::default();
    bucket.name = Some(creation.bucket.clone());
    bucket.owner_identity = Some(owner.clone());
    bucket.arn = Some(format!("arn:aws:s3:::{}", creation.bucket));

    let mut object = S3Object::default();
    object.key = Some(encode_event_key(&creation.key));
    object.size = creation
        .size
        .map(|size| i64::try_from(size).unwrap_or(i64::MAX));
    object.e_tag.clone_from(&creation.e_tag);
    object.version_id.clone_from(&creation.version_id);
    object.sequencer = Some(creation.sequencer.clone());

    let mut entity = S3Entity::default();
    entity.schema_version = Some(S3_SCHEMA_VERSION.to_owned());
    entity.configuration_id = Some(configuration_id.to_owned());
    entity.bucket = bucket;
    entity.object = object;

    let mut request_parameters = S3RequestParameters::default();
    request_parameters.source_ip_address = creation.source_ip.map(|ip| ip.to_string());

    let mut record = S3EventRecord::default();
    record.event_version = Some(EVENT_VERSION.to_owned());
    record.event_source = Some(EVENT_SOURCE.to_owned());
    record.aws_region = Some(context.region.clone());
    // S3 reports event times with millisecond precision.
    record.event_time = DateTime::from_timestamp_millis(creation.event_time.timestamp_millis())
        .unwrap_or(creation.event_time);
    record.event_name = Some(creation.kind.event_name().to_owned());
    record.principal_id = owner;
    record.request_parameters = request_parameters;
    record.response_elements = HashMap::from([
        ("x-amz-request-id".to_owned(), creation.request_id.clone()),
        ("x-amz-id-2".to_owned(), creation.host_id.clone()),
    ]);
    record.s3 = entity;

    let mut event = S3Event::default();
    event.records = vec![record];
    event
}

/// The event as S3 puts it on the wire: `eventTime` with exactly three
/// fractional digits, and no `urlDecodedKey` or `versionId` members that S3
/// does not send for unversioned buckets.
pub fn event_to_json(event: &S3Event) -> Result<serde_json::Value, serde_json::Error> {
    let mut value = serde_json::to_value(event)?;
    let records = value
        .get_mut("Records")
        .and_then(serde_json::Value::as_array_mut)
        .into_iter()
        .flatten()
        .zip(&event.records);
    for (json, record) in records {
        if let Some(fields) = json.as_object_mut() {
            fields.insert(
                "eventTime".to_owned(),
                record
                    .event_time
                    .to_rfc3339_opts(SecondsFormat::Millis, true)
                    .into(),
            );
        }
        if let Some(object) = json
            .pointer_mut("/s3/object")
            .and_then(serde_json::Value::as_object_mut)
        {
            object.retain(|name, member| {
                !(member.is_null() && matches!(name.as_str(), "urlDecodedKey" | "versionId"))
            });
        }
    }
    Ok(value)
}

/// Serde helper: writes an `S3Event` in S3's exact JSON form.
pub(crate) fn serialize_event<S: serde::Serializer>(
    event: &S3Event,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    event_to_json(event)
        .map_err(serde::ser::Error::custom)?
        .serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_encoding_matches_s3() {
        assert_eq!(encode_event_key("red flower.jpg"), "red+flower.jpg");
        assert_eq!(encode_event_key("this im + age.txt"), "this+im+%2B+age.txt");
        assert_eq!(
            encode_event_key("dt=2018-05-04/_SUCCESS"),
            "dt%3D2018-05-04/_SUCCESS"
        );
        assert_eq!(
            encode_event_key("müller_zoë.jpg"),
            "m%C3%BCller_zo%C3%AB.jpg"
        );
        assert_eq!(
            encode_event_key("a:b;c(d)'e~f*g"),
            "a%3Ab%3Bc%28d%29%27e%7Ef*g"
        );
        assert_eq!(encode_event_key("100%.png"), "100%25.png");
        assert_eq!(encode_event_key("dir/sub dir/x"), "dir/sub+dir/x");
    }

    #[test]
    fn key_decoding_reverses_encoding() {
        for key in ["red flower.jpg", "a+b c/ü%20.png", "dir//x", "", "ñ~*'()"] {
            assert_eq!(decode_event_key(&encode_event_key(key)).unwrap(), key);
        }
        assert!(decode_event_key("%FF").is_err());
    }

    #[test]
    fn sequencers_strictly_increase_and_compare_as_s3_says() {
        let clock = SequencerClock::new();
        let issued: Vec<String> = (0..1000).map(|_| clock.next_sequencer()).collect();
        for pair in issued.windows(2) {
            assert_eq!(pair[0].len(), SEQUENCER_WIDTH);
            assert_eq!(
                compare_sequencers(&pair[0], &pair[1]),
                Ordering::Less,
                "{pair:?}"
            );
            assert!(pair[0] < pair[1]);
        }
    }

    #[test]
    fn sequencer_comparison_right_pads() {
        assert_eq!(
            compare_sequencers("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
            Ordering::Less
        );
        assert_eq!(
            compare_sequencers("0055AED6DCD90281E5", "0055AED6DCD90281E500A"),
            Ordering::Less
        );
        assert_eq!(compare_sequencers("0055AE", "0055AE00"), Ordering::Equal);
        assert_eq!(compare_sequencers("1", "0FFFFFFF"), Ordering::Greater);
        assert_eq!(compare_sequencers("00abc", "00ABC"), Ordering::Equal);
    }

    #[test]
    fn event_json_has_s3_shape() {
        let context = EventContext {
            region: "eu-west-1".to_owned(),
            principal_id: "LOCAL".to_owned(),
        };
        let creation = ObjectCreation {
            kind: ObjectCreated::Copy,
            bucket: "photos".to_owned(),
            key: "doe jane.jpg".to_owned(),
            size: Some(42),
            e_tag: Some("0123456789abcdef0123456789abcdef".to_owned()),
            version_id: None,
            sequencer: "0018A1B2C3D4E5F607".to_owned(),
            event_time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            source_ip: Some("127.0.0.1".parse().unwrap()),
            request_id: "REQ".to_owned(),
            host_id: "HOST".to_owned(),
        };
        let json = event_to_json(&object_created_event(&context, "indexer", &creation)).unwrap();
        let expected = serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "eu-west-1",
            "eventTime": "2023-11-14T22:13:20.000Z",
            "eventName": "ObjectCreated:Copy",
            "userIdentity": {"principalId": "LOCAL"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "REQ", "x-amz-id-2": "HOST"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "indexer",
                "bucket": {"name": "photos", "ownerIdentity": {"principalId": "LOCAL"}, "arn": "arn:aws:s3:::photos"},
                "object": {"key": "doe+jane.jpg", "size": 42, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0018A1B2C3D4E5F607"}
            }
        }]});
        assert_eq!(json, expected);
        let parsed: S3Event = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.records[0].s3.object.size, Some(42));
    }
}
