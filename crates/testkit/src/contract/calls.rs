//! Calls counted per caller and window (the searches' rate limit).

use registry::ports::CallCounter;

use super::*;

pub async fn calls_are_counted_per_caller_and_minute<S: CallCounter>(store: &S) {
    let minute = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
    for expected in 1..=3 {
        assert_eq!(store.count_call("ada", minute).await.unwrap(), expected);
    }
    assert_eq!(
        store.count_call("bob", minute).await.unwrap(),
        1,
        "per caller"
    );
    let next = minute + Duration::minutes(1);
    assert_eq!(
        store.count_call("ada", next).await.unwrap(),
        1,
        "a new window"
    );
    assert_eq!(store.count_call("ada", next).await.unwrap(), 2);
    // A caller is a subject (128 characters at most), never more.
    assert!(store.count_call(&"x".repeat(129), next).await.is_err());
}
