//! access-authorizer end to end: the compiled binary under the Lambda Runtime API with keys
//! generated in the test, and the throttle table written by the compiled user-throttle.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use jsonwebtoken::Algorithm;
use resilience_tests::jwt::{self, AUDIENCE, ISSUER};
use resilience_tests::platform::Platform;
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};

const METHOD_ARN: &str = "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/GET/orders";
const STAGE_ARN: &str = "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/*/*";

struct Edge {
    platform: Platform,
    keys: jwt::Keys,
    authorizer: RuntimeApi,
    throttle: RuntimeApi,
    _procs: Vec<FunctionProcess>,
}

async fn edge(cache_seconds: u64) -> Edge {
    let keys = jwt::generate();
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["auth"] = json!({ "issuer": ISSUER, "audience": AUDIENCE, "jwks": keys.jwks, "default_usage_plan_key": "aworldUsagePlanDefault0001", "leeway_seconds": 5, "cache_seconds": cache_seconds });
    p.config["throttle"]["coalesce_seconds"] = json!(0);
    let authorizer = RuntimeApi::start().await;
    let throttle = RuntimeApi::start().await;
    let procs = vec![
        FunctionProcess::spawn("access-authorizer", &authorizer, &p.env()),
        FunctionProcess::spawn("user-throttle", &throttle, &p.env()),
    ];
    Edge {
        platform: p,
        keys,
        authorizer,
        throttle,
        _procs: procs,
    }
}

fn token_event(token: &str) -> Value {
    json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": METHOD_ARN })
}

fn request_event(token: &str) -> Value {
    json!({
        "type": "REQUEST", "methodArn": METHOD_ARN, "resource": "/orders", "path": "/orders", "httpMethod": "GET",
        "headers": { "Authorization": format!("Bearer {token}"), "Host": "api.aworld.example" },
        "queryStringParameters": {}, "pathParameters": {}, "stageVariables": {},
        "requestContext": { "accountId": "123456789012", "apiId": "a1b2c3d4e5", "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" }
    })
}

fn effect(out: &Value) -> &str {
    out["policyDocument"]["Statement"][0]["Effect"].as_str().unwrap()
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_are_allowed_with_the_policy_api_gateway_expects() {
    let e = edge(5).await;
    for (key, alg, kid) in [(&e.keys.rsa, Algorithm::RS256, "rsa-1"), (&e.keys.ec, Algorithm::ES256, "ec-1")] {
        let token = jwt::sign(key, alg, kid, &jwt::claims("u-100", 300));
        let out = e.authorizer.invoke(&token_event(&token)).await.expect("authorized");
        assert_eq!(effect(&out), "Allow", "{out}");
        assert_eq!(out["principalId"], "user#u-100");
        assert_eq!(out["policyDocument"]["Statement"][0]["Resource"][0], STAGE_ARN, "the whole stage");
        assert_eq!(out["context"]["throttled"], false);
    }
    let token = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-100", 300));
    assert_eq!(
        effect(&e.authorizer.invoke(&request_event(&token)).await.expect("authorized")),
        "Allow",
        "REQUEST type too"
    );
}

#[tokio::test]
async fn forged_expired_misaddressed_and_overlong_tokens_are_unauthorized() {
    let e = edge(5).await;
    let good = jwt::claims("u-200", 300);
    let valid = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &good);
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.example/");
    let mut other_sub = good.clone();
    other_sub["sub"] = json!("admin");
    let mut future = good.clone();
    future["iat"] = json!(chrono::Utc::now().timestamp() + 3600);
    future["exp"] = json!(chrono::Utc::now().timestamp() + 3900);
    let mut no_iat = good.clone();
    no_iat.as_object_mut().unwrap().remove("iat");
    let cases = [
        (
            "expired",
            jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-200", -120)),
        ),
        ("wrong audience", jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &wrong_aud)),
        ("wrong issuer", jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &wrong_iss)),
        ("alg none", jwt::unsigned(&good)),
        ("unknown kid", jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-9", &good)),
        ("key of another algorithm", jwt::sign(&e.keys.ec, Algorithm::ES256, "rsa-1", &good)),
        ("tampered payload", jwt::tampered(&valid, &other_sub)),
        ("garbage", "not.a.jwt".to_owned()),
        ("issued in the future", jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &future)),
        (
            "lives longer than allowed",
            jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-200", 2 * 86_400)),
        ),
        ("without iat", jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &no_iat)),
        (
            "another token type",
            jwt::sign_typed(&e.keys.rsa, Algorithm::RS256, "rsa-1", "logout+jwt", &good),
        ),
        ("empty", String::new()),
    ];
    for (what, token) in cases {
        let err = e.authorizer.invoke(&token_event(&token)).await.expect_err(what);
        assert_eq!(err["errorMessage"], "Unauthorized", "{what}: {err}");
    }
    let err = e
        .authorizer
        .invoke(&json!({ "authorizationToken": valid }))
        .await
        .expect_err("no methodArn");
    assert!(err["errorMessage"].as_str().unwrap().contains("methodArn"), "{err}");
}

#[tokio::test]
async fn every_caller_is_under_a_usage_plan_each_level_its_own_until_blocked_and_expiry_lets_them_back() {
    let e = edge(0).await;
    let token = jwt::sign(&e.keys.ec, Algorithm::ES256, "ec-1", &jwt::claims("u-300", 300));
    let p = &e.platform;

    // Methods require API keys: a caller under no limit is given the default plan's key.
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(
        (effect(&out), out["usageIdentifierKey"].as_str()),
        ("Allow", Some("aworldUsagePlanDefault0001")),
        "{out}"
    );

    e.throttle.invoke(&p.suspicious("user#u-300")).await.expect("throttled");
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(effect(&out), "Allow", "rate-limited with a usage plan: allowed at the lower limit");
    assert_eq!(out["usageIdentifierKey"], "aworldUsagePlanRateLimited0001");
    assert_eq!(out["context"]["throttle_level"], "rate-limited");

    e.throttle.invoke(&p.suspicious("user#u-300")).await.expect("escalated");
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(
        (
            effect(&out),
            out["context"]["throttle_level"].as_str(),
            out["usageIdentifierKey"].as_str()
        ),
        ("Allow", Some("strict"), Some("aworldUsagePlanStrict0001")),
        "the stricter level's own plan (its limit_rps)"
    );

    e.throttle.invoke(&p.suspicious("user#u-300")).await.expect("blocked");
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!((effect(&out), out["context"]["throttle_level"].as_str()), ("Deny", Some("blocked")));

    // Expiry is the record's own `until`, checked by the reader (TTL deletes lazily).
    let table = p.config["throttle"]["table"].as_str().unwrap();
    aws_sdk_dynamodb::Client::new(&resilience_tests::sdk(resilience_tests::platform::HOME).await)
        .update_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("user#u-300".into()))
        .update_expression("SET #u = :past")
        .expression_attribute_names("#u", "until")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N((chrono::Utc::now().timestamp() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(
        (
            effect(&out),
            out["context"]["throttled"].as_bool(),
            out["usageIdentifierKey"].as_str()
        ),
        ("Allow", Some(false), Some("aworldUsagePlanDefault0001")),
        "{out}"
    );
}

#[tokio::test]
async fn the_lookup_cache_has_a_bounded_age() {
    let e = edge(2).await;
    let token = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-400", 300));
    let first = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(first["context"]["lookup"], "table");
    let second = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(second["context"]["lookup"], "cache");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let third = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(third["context"]["lookup"], "table", "a cached answer is kept at most cache_seconds");
}

#[tokio::test]
async fn the_policy_covers_the_whole_stage_so_a_cached_answer_holds_for_other_methods() {
    let e = edge(5).await;
    let token = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-500", 300));
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(out["policyDocument"]["Statement"][0]["Resource"][0], STAGE_ARN);
}

/// Fail-safe, not fail-open: through the platform's proxy, the local replica of the throttle
/// table answers 5xx (the emulator cannot fail on demand).
#[tokio::test]
async fn a_blocked_user_stays_denied_while_the_throttle_table_fails_and_an_unseen_one_is_read_from_the_peer() {
    use resilience_tests::faults::Fault;
    use resilience_tests::platform::{HOME, SOUTH};
    let e = edge(1).await;
    let p = &e.platform;
    let blocked = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-600", 300));
    for _ in 0..3 {
        e.throttle.invoke(&p.suspicious("user#u-600")).await.expect("escalated");
    }
    let out = e.authorizer.invoke(&token_event(&blocked)).await.expect("answered");
    assert_eq!((effect(&out), out["context"]["lookup"].as_str()), ("Deny", Some("table")));

    // The cached answer is older than cache_seconds and the table fails: the known block holds.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    p.latency.proxy.always("GetItem", HOME, Some(Fault::ServerError));
    let out = e.authorizer.invoke(&token_event(&blocked)).await.expect("answered");
    assert_eq!(
        (effect(&out), out["context"]["lookup"].as_str()),
        ("Deny", Some("stale-cache")),
        "{out}"
    );

    // A user this authorizer never saw, blocked in the peer region's replica (written there by
    // user-throttle running in that region): read from the peer, denied.
    // (user-throttle there keeps its claims in that region's state table.)
    resilience_tests::create_state_table(&aws_sdk_dynamodb::Client::new(&resilience_tests::sdk(SOUTH).await), &p.state_table).await;
    let south = RuntimeApi::start().await;
    let mut env = p.env();
    env.push(("AWS_REGION", SOUTH.to_owned()));
    let _south_throttle = FunctionProcess::spawn("user-throttle", &south, &env);
    for _ in 0..3 {
        south
            .invoke(&p.suspicious("user#u-601"))
            .await
            .expect("escalated in the peer region");
    }
    let unseen = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-601", 300));
    let out = e.authorizer.invoke(&token_event(&unseen)).await.expect("answered");
    assert_eq!(
        (effect(&out), out["context"]["lookup"].as_str()),
        ("Deny", Some("peer-replica")),
        "{out}"
    );

    // Both replicas fail, the local one slowly (no answer before the SDK's attempt timeout;
    // each read is cut at LOOKUP_BUDGET): a user this authorizer never saw cannot be cleared,
    // so is not let in (the default throttle.on_lookup_failure = deny).
    p.latency.proxy.always("GetItem", HOME, Some(Fault::Timeout));
    p.latency.proxy.always("GetItem", SOUTH, Some(Fault::ServerError));
    let stranger = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-602", 300));
    let out = e.authorizer.invoke(&token_event(&stranger)).await.expect("answered");
    assert_eq!(
        (effect(&out), out["context"]["lookup"].as_str()),
        ("Deny", Some("fail-closed")),
        "{out}"
    );
}

/// The issuer's `jwks_uri`, served on loopback: the key set it publishes now, and how often it
/// was fetched.
struct Issuer {
    url: String,
    published: std::sync::Arc<std::sync::Mutex<Value>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn issuer(published: Value) -> Issuer {
    use axum::routing::get;
    let published = std::sync::Arc::new(std::sync::Mutex::new(published));
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (p, f) = (published.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let (p, f) = (p.clone(), f.clone());
            async move {
                f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                axum::Json(p.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Issuer { url, published, fetches }
}

#[tokio::test]
async fn a_key_rotated_at_the_issuer_is_fetched_from_its_jwks_uri_and_accepted_without_a_redeploy() {
    let keys = jwt::generate();
    let iss = issuer(keys.jwks.clone()).await;
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["auth"] = json!({ "issuer": ISSUER, "audience": AUDIENCE, "jwks": keys.jwks, "default_usage_plan_key": "aworldUsagePlanDefault0001", "jwks_uri": iss.url,
                               "jwks_refresh_seconds": 60, "cache_seconds": 0 });
    let api = RuntimeApi::start().await;
    let _f = FunctionProcess::spawn("access-authorizer", &api, &p.env());
    let fetches = || iss.fetches.load(std::sync::atomic::Ordering::SeqCst);

    // A configured key: allowed with no call to the issuer.
    let known = jwt::sign(&keys.ec, Algorithm::ES256, "ec-1", &jwt::claims("u-1", 300));
    assert_eq!(effect(&api.invoke(&token_event(&known)).await.unwrap()), "Allow");
    assert_eq!(fetches(), 0, "no network on the known-key path");

    // The issuer rotates to a new key (kid ec-2) and publishes it: the first token signed with
    // it makes one fetch, and is allowed; the configuration was not touched.
    let next = jwt::generate();
    let mut rotated = next.jwks["keys"][1].clone();
    rotated["kid"] = json!("ec-2");
    iss.published.lock().unwrap()["keys"].as_array_mut().unwrap().push(rotated);
    let new_key = jwt::sign(&next.ec, Algorithm::ES256, "ec-2", &jwt::claims("u-2", 300));
    assert_eq!(effect(&api.invoke(&token_event(&new_key)).await.unwrap()), "Allow");
    assert_eq!(fetches(), 1);
    assert_eq!(effect(&api.invoke(&token_event(&new_key)).await.unwrap()), "Allow");
    assert_eq!(fetches(), 1, "kept, not fetched again");

    // Tokens naming made-up key ids are refused and cannot make the authorizer call out again
    // inside jwks_refresh_seconds; the configured keys keep working.
    for i in 0..5 {
        let forged = jwt::sign(&next.rsa, Algorithm::RS256, &format!("made-up-{i}"), &jwt::claims("u-3", 300));
        let err = api.invoke(&token_event(&forged)).await.expect_err("unknown kid");
        assert_eq!(err["errorMessage"], "Unauthorized", "{err}");
    }
    assert_eq!(fetches(), 1, "rate-limited");
    assert_eq!(effect(&api.invoke(&token_event(&known)).await.unwrap()), "Allow");
}
