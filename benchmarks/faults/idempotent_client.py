#!/usr/bin/env python3
"""Clients retrying POSTs with Idempotency-Key (make faults, scenario 6).

Each of --clients threads takes new keys at a fixed pace (one per --every seconds, --keys in all) and
sends POST /rpc/faults_apply_once {"tag": <key>} with `Idempotency-Key: <key>` until it gets a 2xx (the
first answer or its replay), retrying whatever else comes back (409, 502, 503, 504, no answer) after
--backoff seconds, with the same key and body. Bounded: every key stops at --deadline seconds from the
start. Writes one line per key to --acks (key, status, replayed, attempts) for the keys that got a 2xx,
and a JSON summary to stdout."""
import argparse, json, threading, time, urllib.error, urllib.request
from collections import Counter


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8280")
    parser.add_argument("--token-file", required=True, help="a file holding the caller's JWT")
    parser.add_argument("--prefix", required=True, help="prefix of the keys (unique per run)")
    parser.add_argument("--keys", type=int, default=320)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--every", type=float, default=0.4, help="seconds between a client's new keys")
    parser.add_argument("--backoff", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per attempt")
    parser.add_argument("--deadline", type=float, default=45.0, help="seconds from the start after which nothing is sent")
    parser.add_argument("--acks", required=True)
    args = parser.parse_args()
    token = open(args.token_file).read().strip()
    start = time.monotonic()
    lock = threading.Lock()
    statuses, acks, unacked = Counter(), [], []

    def attempt(key):
        body = json.dumps({"tag": key}).encode()
        request = urllib.request.Request(args.url + "/rpc/faults_apply_once", data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": "Bearer " + token, "Idempotency-Key": key})
        try:
            with urllib.request.urlopen(request, timeout=args.timeout) as response:
                return response.status, response.headers.get("Idempotent-Replayed") == "true"
        except urllib.error.HTTPError as error:
            return error.code, False
        except Exception:  # no answer: refused, reset, timed out
            return 0, False

    def client(index):
        for n in range(index, args.keys, args.clients):
            due = start + (n // args.clients) * args.every
            time.sleep(max(0.0, due - time.monotonic()))
            key = f"{args.prefix}-{n}"
            tries = 0
            while time.monotonic() - start < args.deadline:
                tries += 1
                status, replayed = attempt(key)
                with lock:
                    statuses[status] += 1
                if 200 <= status < 300:
                    with lock:
                        acks.append((key, status, replayed, tries))
                    break
                time.sleep(args.backoff)
            else:
                with lock:
                    unacked.append(key)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(args.acks, "w") as out:
        for key, status, replayed, tries in acks:
            out.write(f"{key}\t{status}\t{'t' if replayed else 'f'}\t{tries}\n")
    print(json.dumps({
        "keys": args.keys, "acknowledged": len(acks), "unacknowledged": len(unacked),
        "attempts": sum(statuses.values()), "replayed": sum(1 for a in acks if a[2]),
        "retried_keys": sum(1 for a in acks if a[3] > 1), "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(time.monotonic() - start, 3),
    }))


if __name__ == "__main__":
    main()
