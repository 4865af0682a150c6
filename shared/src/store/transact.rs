//! Conditional writes in bulk, one way for every table: TransactWriteItems of 25 puts.
//! A transaction is all or nothing: when it is cancelled, the puts whose condition failed are
//! the losers (with the item that beat them, when DynamoDB returns it), and the others are
//! written again in one more transaction — not one call per item.

use crate::model::said;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;

/// Items per transaction. DynamoDB allows 100; 25 keeps each call well inside the SDK's 3 s
/// attempt timeout under load (a burst of 1,000 detector events once timed out in 100-item
/// transactions on the emulator and failed every record) and bounds what a cancelled
/// transaction makes the others redo.
pub const TRANSACTION_ITEMS: usize = 25;
const ROUNDS: usize = 4;

/// What became of one put.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    Written,
    /// Its condition failed; the existing item if DynamoDB returned it
    /// (`ReturnValuesOnConditionCheckFailure::AllOld` on the put).
    Lost(Option<HashMap<String, AttributeValue>>),
}

/// Writes every put, in order; returns one outcome per put and the number of calls made.
/// Fails when the table cannot be reached, or when puts are still neither written nor lost
/// after a few transactions (conflicts with other writers).
pub async fn put_all(client: &Client, puts: Vec<Put>) -> Result<(Vec<PutOutcome>, usize), String> {
    let mut out: Vec<Option<PutOutcome>> = vec![None; puts.len()];
    let mut calls = 0;
    for start in (0..puts.len()).step_by(TRANSACTION_ITEMS) {
        let mut pending: Vec<usize> = (start..(start + TRANSACTION_ITEMS).min(puts.len())).collect();
        for _round in 0..ROUNDS {
            if pending.is_empty() {
                break;
            }
            let items: Vec<TransactWriteItem> = pending
                .iter()
                .map(|&i| TransactWriteItem::builder().put(puts[i].clone()).build())
                .collect();
            calls += 1;
            // A fresh token per transaction, the same on the SDK's retries of it: a retry of a
            // transaction that committed but timed out succeeds without writing again
            // (TransactWriteItems, ClientRequestToken: idempotent for 10 minutes).
            let token = uuid::Uuid::new_v4().to_string();
            match client
                .transact_write_items()
                .set_transact_items(Some(items))
                .client_request_token(token)
                .send()
                .await
            {
                Ok(_) => pending.drain(..).for_each(|i| out[i] = Some(PutOutcome::Written)),
                Err(e) => {
                    let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() else {
                        return Err(said(&e));
                    };
                    let reasons = c.cancellation_reasons();
                    let mut still = Vec::new();
                    for (pos, &i) in pending.iter().enumerate() {
                        match reasons.get(pos) {
                            Some(r) if r.code() == Some("ConditionalCheckFailed") => {
                                out[i] = Some(PutOutcome::Lost(r.item().cloned()));
                            }
                            // Cancelled only because another put lost, or a conflict: again.
                            _ => still.push(i),
                        }
                    }
                    if still.len() == pending.len() {
                        // No loser named (a conflict with another transaction): back off.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    pending = still;
                }
            }
        }
        if !pending.is_empty() {
            return Err(format!(
                "{} conditional writes still conflicting after {ROUNDS} transactions",
                pending.len()
            ));
        }
    }
    Ok((out.into_iter().map(|o| o.unwrap_or(PutOutcome::Lost(None))).collect(), calls))
}

#[cfg(test)]
mod tests {
    //! What the emulator cannot show (it ignores ClientRequestToken): aws-smithy-mocks rules
    //! that match only a request carrying a valid token.
    use super::*;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[tokio::test]
    async fn every_transaction_carries_a_client_request_token_for_idempotent_retries() {
        let with_token = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .match_requests(|r| r.client_request_token().is_some_and(|t| !t.is_empty() && t.len() <= 36))
            .then_output(|| TransactWriteItemsOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&with_token]);
        let puts: Vec<Put> = (0..150)
            .map(|i| {
                Put::builder()
                    .table_name("t")
                    .item("pk", AttributeValue::S(format!("k{i}")))
                    .build()
                    .unwrap()
            })
            .collect();
        let (outcomes, calls) = put_all(&client, puts).await.unwrap();
        assert_eq!(outcomes.len(), 150);
        assert_eq!((calls, with_token.num_calls()), (6, 6), "six transactions of 25, each with a token");
    }
}
