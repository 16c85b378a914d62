//! Many people at once, for the benchmarks: names from many languages, 80 %
//! indexed, 15 % rejected, 5 % waiting for a first photo. Their keys and
//! FaceIds are well-formed, but no photo or face exists behind them.

use sqlx::mysql::MySqlPool;
use sqlx::{MySql, QueryBuilder};

/// Rows per INSERT: well under MySQL's 65,535 placeholders.
const INSERT_BATCH: usize = 2_000;

const LASTNAMES: &[&str] = &[
    "Martin",
    "García",
    "Müller",
    "Rossi",
    "Smith",
    "Nowak",
    "Dubois",
    "Silva",
    "Jensen",
    "Kowalski",
    "Novák",
    "Papadopoulos",
    "Horvat",
    "Yilmaz",
    "Andersson",
    "O'Brien",
    "Lefèvre",
    "Costa",
];
const FIRSTNAMES: &[&str] = &[
    "Anna", "José", "Léa", "Mohamed", "Olivia", "Lukas", "Sofia", "Noah", "Chloé", "Mateo", "Zoë",
    "Ingrid", "Émile", "Aiko",
];

/// Inserts `count` people in every status, with multi-row INSERTs; most
/// have a photo (a key, a version) and a face.
pub async fn people(pool: &MySqlPool, count: usize) -> Result<(), sqlx::Error> {
    for start in (0..count).step_by(INSERT_BATCH) {
        let end = (start + INSERT_BATCH).min(count);
        let mut insert = QueryBuilder::<MySql>::new(
            "INSERT INTO person (lastname, firstname, object_key, identity, status, status_reason, \
             object_etag, object_sequencer, face_confidence, face_left, face_top, face_width, face_height) ",
        );
        insert.push_values(start..end, |mut row, i| {
            let lastname = LASTNAMES[i % LASTNAMES.len()];
            let firstname = FIRSTNAMES[(i / LASTNAMES.len()) % FIRSTNAMES.len()];
            let key = format!(
                "{}_{}-{i}.jpg",
                registry::names::slug(lastname),
                registry::names::slug(firstname)
            );
            // 80 % indexed, 15 % rejected, 5 % waiting for a first photo.
            let (status, reason, identity, has_photo) = match i % 20 {
                0 => ("pending", None, None, false),
                1..=3 => (
                    "rejected",
                    Some("No face was found in the photo."),
                    None,
                    true,
                ),
                _ => (
                    "indexed",
                    None,
                    Some(format!("{i:08x}-0000-4000-8000-000000000000")),
                    true,
                ),
            };
            let face = identity.is_some().then_some(0.25_f32);
            row.push_bind(lastname)
                .push_bind(format!("{firstname} {i}"))
                .push_bind(key)
                .push_bind(identity)
                .push_bind(status)
                .push_bind(reason)
                .push_bind(has_photo.then(|| format!("\"{i:032x}\"")))
                .push_bind(has_photo.then(|| format!("0067A3F2{i:010X}")))
                .push_bind(face.map(|_| 99.5_f32))
                .push_bind(face)
                .push_bind(face)
                .push_bind(face.map(|f| f * 2.0))
                .push_bind(face.map(|f| f * 2.0));
        });
        insert.build().execute(pool).await?;
    }
    Ok(())
}
