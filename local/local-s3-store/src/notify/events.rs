//! The events of object creations: what a request contributes to its
//! event, and each event handed to the notifications that match it.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use http::{HeaderMap, HeaderValue};
use s3s::S3Request;
use s3s::auth::Credentials;

use crate::config::Notification;
use crate::delivery::Dispatcher;
use crate::event::{EventContext, ObjectCreation, SequencerClock, object_created_event};

use super::PeerAddr;

/// One notification of one bucket and the queue of its target.
pub(crate) struct Route {
    pub(crate) bucket: String,
    pub(crate) notification: Notification,
    pub(crate) dispatcher: Arc<Dispatcher>,
}

/// Builds events and hands them to the dispatchers of matching notifications.
pub(crate) struct EventEmitter {
    pub(crate) context: EventContext,
    pub(crate) sequencers: SequencerClock,
    pub(crate) routes: Vec<Route>,
}

impl EventEmitter {
    pub(super) fn emit(&self, creation: &ObjectCreation) {
        for route in &self.routes {
            if route.bucket == creation.bucket
                && route
                    .notification
                    .matches(creation.kind.event_name(), &creation.key)
            {
                let event = object_created_event(&self.context, &route.notification.id, creation);
                route
                    .dispatcher
                    .dispatch(creation.sequencer.clone(), event, creation.event_time);
            }
        }
    }
}

/// What one object-creating request contributes to its event.
pub(super) struct Write {
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) source_ip: Option<IpAddr>,
    pub(super) credentials: Option<Credentials>,
    pub(super) request_id: String,
    pub(super) host_id: String,
}

impl Write {
    pub(super) fn of<T>(req: &S3Request<T>, bucket: &str, key: &str) -> Self {
        let mut host_id = [0_u8; 48];
        rand::Rng::fill(&mut rand::thread_rng(), &mut host_id[..]);
        Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            source_ip: req.extensions.get::<PeerAddr>().map(|peer| peer.0.ip()),
            credentials: req.credentials.clone(),
            request_id: format!("{:016X}", rand::random::<u64>()),
            host_id: base64::engine::general_purpose::STANDARD.encode(host_id),
        }
    }

    /// S3 names the request in the response as well as in the event.
    pub(super) fn tag_response(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("x-amz-request-id", &self.request_id),
            ("x-amz-id-2", &self.host_id),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
}
