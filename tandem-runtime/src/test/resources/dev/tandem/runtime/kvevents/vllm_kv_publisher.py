"""A KV event publisher that sends vLLM's exact ZeroMQ messages, driven by the test over stdin.

The wire format follows vllm/distributed/kv_events.py (ZmqEventPublisher): a PUB socket sending
[topic, seq (8 bytes big-endian), msgpack payload], and a ROUTER socket answering a replay request
[identity, empty, start seq] with [identity, empty, seq, payload] for every buffered batch from the
start seq, then [identity, empty, -1, empty].

usage: python3 vllm_kv_publisher.py  (prints "ready PUB_PORT REPLAY_PORT", then one reply line per
command). Commands are JSON lines:
  {"op": "batch", "encoding": "array"|"map", "hashes": "int"|"bytes", "events": [...],
   "publish": true, "rank": 0}     assign the next seq, buffer it, send it unless publish is false
  {"op": "payload", "hex": "...", "publish": true}   the same with raw payload bytes
  {"op": "raw", "frames": ["hex", ...]}               send any multipart message on PUB
  {"op": "forget", "below": N}                        drop buffered batches with seq < N
  {"op": "restart"}                                   numbering starts again at 0, buffer emptied
  {"op": "exit"}
Events are maps in the map form's field names ({"type": "BlockStored", "block_hashes": [...], ...});
with "hashes": "bytes" every integer hash h becomes the 32 bytes of h, big-endian.
"""
import json
import sys
import threading
import time

import msgpack
import zmq

STORED = ["block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium", "lora_name",
          "extra_keys", "group_idx", "kv_cache_spec_kind", "kv_cache_spec_sliding_window"]
REMOVED = ["block_hashes", "medium", "group_idx"]
ORDER = {"BlockStored": STORED, "BlockRemoved": REMOVED, "AllBlocksCleared": []}
END_SEQ = (-1).to_bytes(8, "big", signed=True)


def as_hash(h, kind):
    if h is None or kind == "int":
        return h
    return int(h).to_bytes(32, "big")


def encode_event(event, encoding, kind):
    event = dict(event)
    for key in ("block_hashes",):
        if key in event:
            event[key] = [as_hash(h, kind) for h in event[key]]
    if "parent_block_hash" in event:
        event["parent_block_hash"] = as_hash(event["parent_block_hash"], kind)
    tag = event.pop("type")
    if encoding == "map":
        return dict({"type": tag}, **event)
    fields = ORDER.get(tag, sorted(event))
    last = max([i for i, f in enumerate(fields) if f in event], default=-1)
    return [tag] + [event.get(f) for f in fields[:last + 1]]


def encode_batch(command):
    encoding = command.get("encoding", "array")
    kind = command.get("hashes", "int")
    events = [encode_event(e, encoding, kind) for e in command["events"]]
    rank = command.get("rank")
    if encoding == "map":
        batch = {"ts": time.time(), "events": events}
        if rank is not None:
            batch["data_parallel_rank"] = rank
    else:
        batch = [time.time(), events] + ([rank] if rank is not None else [])
    return msgpack.packb(batch, use_bin_type=True)


def main():
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub_port = pub.bind_to_random_port("tcp://127.0.0.1")
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    replay_port = router.bind_to_random_port("tcp://127.0.0.1")
    lock = threading.Lock()
    buffer = []          # (seq, payload), guarded by lock
    state = {"seq": 0, "running": True}

    def serve_replays():
        while state["running"]:
            if not router.poll(50):
                continue
            frames = router.recv_multipart()
            if len(frames) != 3:
                continue
            client, _, start = frames
            start_seq = int.from_bytes(start, "big")
            with lock:
                batches = [(s, p) for s, p in buffer if s >= start_seq]
            for s, p in batches:
                router.send_multipart((client, b"", s.to_bytes(8, "big"), p))
            router.send_multipart((client, b"", END_SEQ, b""))

    replays = threading.Thread(target=serve_replays, daemon=True)
    replays.start()
    print("ready %d %d" % (pub_port, replay_port), flush=True)

    def publish(payload, send):
        with lock:
            seq = state["seq"]
            state["seq"] += 1
            buffer.append((seq, payload))
        if send:
            pub.send_multipart((b"", seq.to_bytes(8, "big"), payload))
        return seq

    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command["op"]
        if op == "batch":
            seq = publish(encode_batch(command), command.get("publish", True))
            print("seq %d" % seq, flush=True)
        elif op == "payload":
            seq = publish(bytes.fromhex(command["hex"]), command.get("publish", True))
            print("seq %d" % seq, flush=True)
        elif op == "raw":
            pub.send_multipart([bytes.fromhex(f) for f in command["frames"]])
            print("ok", flush=True)
        elif op == "forget":
            with lock:
                buffer[:] = [(s, p) for s, p in buffer if s >= command["below"]]
            print("ok", flush=True)
        elif op == "restart":
            with lock:
                buffer.clear()
                state["seq"] = 0
            print("ok", flush=True)
        elif op == "exit":
            break
        else:
            print("error unknown op " + op, flush=True)
    state["running"] = False
    replays.join(1)
    pub.close(0)
    router.close(0)
    ctx.term()


if __name__ == "__main__":
    main()
