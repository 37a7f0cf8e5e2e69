//! What a consumer group looks like from outside: its members with their
//! assignments, and per partition the committed offset against the end.
//! Printed by tests whose work stops moving, so a stall names its cause.

use std::time::Duration;

use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
};

const WAIT: Duration = Duration::from_secs(5);

/// The topics and partitions in a consumer-protocol member assignment
/// (version, then per topic its name and partitions).
fn assignment(bytes: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (b.get(..n)?, b.get(n..)?);
        *b = rest;
        Some(head)
    }
    fn int(b: &mut &[u8], n: usize) -> Option<i64> {
        Some(take(b, n)?.iter().fold(0i64, |v, x| v << 8 | i64::from(*x)))
    }
    let mut b = bytes;
    take(&mut b, 2)?;
    let mut out = Vec::new();
    for _ in 0..int(&mut b, 4)? {
        let len = usize::try_from(int(&mut b, 2)?).ok()?;
        let topic = String::from_utf8_lossy(take(&mut b, len)?).into_owned();
        let mut partitions = Vec::new();
        for _ in 0..int(&mut b, 4)? {
            partitions.push(i32::try_from(int(&mut b, 4)?).ok()?);
        }
        out.push((topic, partitions));
    }
    Some(out)
}

/// A report of `group` on `topic` (blocking; a few broker round trips).
pub fn report(brokers: &str, group: &str, topic: &str) -> String {
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
    {
        Ok(c) => c,
        Err(e) => return format!("no client for {group}: {e}"),
    };
    let mut out = format!("consumer group {group}:\n");
    match consumer.fetch_group_list(Some(group), WAIT) {
        Ok(list) => {
            for g in list.groups() {
                out += &format!("  state {} ({} members)\n", g.state(), g.members().len());
                for m in g.members() {
                    let owns = m
                        .assignment()
                        .and_then(assignment)
                        .map(|a| format!("{a:?}"))
                        .unwrap_or_else(|| "nothing".into());
                    out += &format!("  member {} at {}: {owns}\n", m.id(), m.client_host());
                }
            }
        }
        Err(e) => out += &format!("  members unknown: {e}\n"),
    }
    let partitions = consumer
        .fetch_metadata(Some(topic), WAIT)
        .ok()
        .and_then(|md| Some(md.topics().first()?.partitions().len()))
        .unwrap_or(0);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, i32::try_from(p).unwrap_or(0));
    }
    let committed = consumer.committed_offsets(tpl, WAIT);
    for p in 0..partitions {
        let p = i32::try_from(p).unwrap_or(0);
        let at = committed
            .as_ref()
            .ok()
            .and_then(|c| c.find_partition(topic, p))
            .map(|e| match e.offset() {
                Offset::Offset(o) => o.to_string(),
                other => format!("{other:?}"),
            })
            .unwrap_or_else(|| "?".into());
        let end = consumer
            .fetch_watermarks(topic, p, WAIT)
            .map(|(_, high)| high.to_string())
            .unwrap_or_else(|e| format!("? ({e})"));
        out += &format!("  {topic}[{p}]: committed {at}, end {end}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_protocol_assignment_is_read_topic_by_topic() {
        let mut b = vec![0, 3, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2];
        b.extend([0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0]);
        assert_eq!(assignment(&b), Some(vec![("t".into(), vec![1, 3])]));
    }

    #[test]
    fn a_truncated_assignment_is_none() {
        assert_eq!(assignment(&[0, 3, 0, 0, 0, 1, 0, 5, b't']), None);
    }
}
