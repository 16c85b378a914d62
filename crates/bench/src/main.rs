//! Listing benchmark: seeds a million people into a fresh database, then
//! times the `GET /api/faces` handler (presigned photo URLs and the
//! page's audit entry included) on the first page, on a page 900,000 rows
//! deep reached through its cursor, and on name-prefix searches. Keyset
//! pagination should keep the deep page about as fast as the first. Prints
//! figures; asserts nothing.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use registry::listing::{ListParams, parse_params};
use registry::ports::{ListFilter, PersonStore, PhotoStore};
use registry_adapters::{MysqlPersonStore, S3PhotoStore};
use registry_api::{FacesApi, PhotoLinks};
use registry_testkit::{ApiEvent, ScriptedFaceSearch, TestDatabase, presigning_photo_store};
use serde_json::Value;
use sqlx::mysql::MySqlPool;

const PEOPLE: usize = 1_000_000;
const DEPTH: usize = 900_000;
/// The API's default page size.
const PAGE: usize = 50;
/// Page size while walking down to the deep page.
const WALK_PAGE: usize = 100;
const WARM_UP_RUNS: usize = 3;
const RUNS: usize = 21;

#[tokio::main]
async fn main() -> Result<()> {
    let database = TestDatabase::create_with("registry_bench", true, 4)
        .await
        .context("creating the benchmark database")?;
    let outcome = run(database.pool()).await;
    database
        .drop_database()
        .await
        .context("dropping the benchmark database")?;
    outcome
}

async fn run(pool: &MySqlPool) -> Result<()> {
    let started = Instant::now();
    registry_testkit::seed::people(pool, PEOPLE)
        .await
        .context("seeding people")?;
    println!(
        "seeded {PEOPLE} people in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let api = FacesApi {
        people: MysqlPersonStore::new(pool.clone()),
        photos: presigning_photo_store(),
        // The listing benchmark searches nothing.
        face_search: ScriptedFaceSearch::default(),
        photo_links: PhotoLinks::Presigned {
            ttl: Duration::from_secs(300),
        },
        sign_in: None,
        auth: Default::default(),
    };

    let deep_cursor = walk_to_depth(&api, DEPTH).await?;
    let first_query = format!("limit={PAGE}");
    let deep_query = format!("limit={PAGE}&cursor={deep_cursor}");

    let first = time_handler(&api, &first_query).await?;
    let deep = time_handler(&api, &deep_query).await?;
    let first_db = time_store(&api.people, None).await?;
    let deep_db = time_store(&api.people, Some(&deep_cursor)).await?;

    let deep_label = format!("page {DEPTH} rows deep (cursor)");
    println!();
    println!("GET /api/faces handler, {PAGE} people per page, median of {RUNS} runs:");
    for (label, handler, query) in [
        ("first page", first, first_db),
        (deep_label.as_str(), deep, deep_db),
    ] {
        println!(
            "  {label:<32} {:>8.3} ms   (database query {:.3} ms)",
            ms(handler),
            ms(query)
        );
    }
    println!(
        "  {:<32} {:>8.2}      (database query {:.2}; keyset pagination aims under 1.5)",
        "ratio deep / first",
        ms(deep) / ms(first),
        ms(deep_db) / ms(first_db)
    );
    name_prefix_figures(&api).await?;
    let presign = time_presign(&api.photos).await?;
    println!(
        "  {:<32} {:>8.1} µs",
        "one presigned photo URL",
        presign.as_secs_f64() * 1e6
    );
    // The rest of the handler (presigning each photo URL, JSON) should not
    // cost more than the query itself.
    println!(
        "  {:<32} {:>8.2}      (goal: at most 2)",
        "ratio handler / query, first",
        ms(first) / ms(first_db)
    );
    Ok(())
}

/// Name-prefix searches (`q=`): one letter, a name many people share, one
/// few share, one nobody has. Each name is searched on its own in id order
/// and the two merged (the store says why), so that each should cost about
/// a page.
async fn name_prefix_figures(
    api: &FacesApi<MysqlPersonStore, S3PhotoStore, ScriptedFaceSearch>,
) -> Result<()> {
    println!("GET /api/faces?q=, name prefixes, median of {RUNS} runs:");
    for (label, prefix) in [
        ("one letter", "A"),
        ("a common lastname (1 in 18)", "Mart"),
        ("a rare firstname (11 people)", "Anna 12348"),
        ("nobody's name", "Zyx"),
    ] {
        let query = format!("limit={PAGE}&q={}", prefix.replace(' ', "+"));
        let (handler, found) = time_search(api, &query).await?;
        let filter = parse_params(&ListParams {
            limit: Some(PAGE.to_string()),
            q: Some(prefix.to_owned()),
            ..Default::default()
        })?;
        let query_time = time_query(&api.people, &filter).await?;
        println!(
            "  {label:<32} {:>8.3} ms   (database query {:.3} ms; {found} on the page)",
            ms(handler),
            ms(query_time)
        );
    }
    println!("  (goal: under 100 ms, the time of one page people notice)");
    println!();
    Ok(())
}

/// Median handler time of a search, and how many people its page holds.
async fn time_search(
    api: &FacesApi<MysqlPersonStore, S3PhotoStore, ScriptedFaceSearch>,
    query: &str,
) -> Result<(Duration, usize)> {
    let mut times = Vec::with_capacity(RUNS);
    let mut found = 0;
    for run in 0..WARM_UP_RUNS + RUNS {
        let request = request(query)?;
        let started = Instant::now();
        let body = call(api, request).await?;
        let elapsed = started.elapsed();
        found = body["items"].as_array().map_or(0, Vec::len);
        if run >= WARM_UP_RUNS {
            times.push(elapsed);
        }
    }
    Ok((median(times), found))
}

/// Median time of the store's query alone for `filter`.
async fn time_query(people: &MysqlPersonStore, filter: &ListFilter) -> Result<Duration> {
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..WARM_UP_RUNS + RUNS {
        let started = Instant::now();
        people.list(filter).await?;
        if run >= WARM_UP_RUNS {
            times.push(started.elapsed());
        }
    }
    Ok(median(times))
}

fn request(query: &str) -> Result<lambda_http::Request> {
    let json = ApiEvent::load("faces-list.json")
        .with_query(query)
        .json()
        .to_string();
    lambda_http::request::from_str(&json).context("building the listing request")
}

async fn call(
    api: &FacesApi<MysqlPersonStore, S3PhotoStore, ScriptedFaceSearch>,
    request: lambda_http::Request,
) -> Result<Value> {
    let response = api.handle(request).await;
    let body: Value =
        serde_json::from_slice(response.body().as_ref()).context("the response is not JSON")?;
    if response.status() != 200 {
        bail!("the listing answered {}: {body}", response.status());
    }
    Ok(body)
}

/// Walks the listing from the top through its cursors; the cursor after `depth` rows.
async fn walk_to_depth(
    api: &FacesApi<MysqlPersonStore, S3PhotoStore, ScriptedFaceSearch>,
    depth: usize,
) -> Result<String> {
    let mut walked = 0;
    let mut cursor: Option<String> = None;
    while walked < depth {
        let limit = WALK_PAGE.min(depth - walked);
        let query = match &cursor {
            None => format!("limit={limit}"),
            Some(cursor) => format!("limit={limit}&cursor={cursor}"),
        };
        let body = call(api, request(&query)?).await?;
        walked += body["items"].as_array().map_or(0, Vec::len);
        cursor = body["nextCursor"].as_str().map(str::to_owned);
        ensure!(
            cursor.is_some(),
            "the listing ended after {walked} rows, before {depth}"
        );
    }
    cursor.context("no cursor")
}

/// Median handler time over [`RUNS`], after warm-up runs; checks each page is full.
async fn time_handler(
    api: &FacesApi<MysqlPersonStore, S3PhotoStore, ScriptedFaceSearch>,
    query: &str,
) -> Result<Duration> {
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..WARM_UP_RUNS + RUNS {
        let request = request(query)?;
        let started = Instant::now();
        let response = api.handle(request).await;
        let elapsed = started.elapsed();
        ensure!(
            response.status() == 200,
            "the listing answered {}",
            response.status()
        );
        let body: Value = serde_json::from_slice(response.body().as_ref())?;
        let items = body["items"].as_array().map_or(0, Vec::len);
        ensure!(items == PAGE, "a page of {items} people, not {PAGE}");
        if run >= WARM_UP_RUNS {
            times.push(elapsed);
        }
    }
    Ok(median(times))
}

/// Median time of the store's query alone, for the same pages.
async fn time_store(people: &MysqlPersonStore, cursor: Option<&str>) -> Result<Duration> {
    let filter = parse_params(&ListParams {
        limit: Some(PAGE.to_string()),
        cursor: cursor.map(str::to_owned),
        ..Default::default()
    })?;
    let rows = people.list(&filter).await?;
    ensure!(rows.len() == PAGE, "a page of {} people", rows.len());
    time_query(people, &filter).await
}

/// One presigned photo URL, the median of batches of a thousand.
async fn time_presign(photos: &S3PhotoStore) -> Result<Duration> {
    const URLS: u32 = 1000;
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..WARM_UP_RUNS + RUNS {
        let started = Instant::now();
        for n in 0..URLS {
            photos
                .presign_download(
                    &format!("{n:032x}.martin_anna.jpg"),
                    Duration::from_secs(300),
                )
                .await
                .context("presigning")?;
        }
        if run >= WARM_UP_RUNS {
            times.push(started.elapsed() / URLS);
        }
    }
    Ok(median(times))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
