import fc from "fast-check";
import { requestParser } from "../../adapters/device/device_protocol.ts";
const p = requestParser(32);
const enc = (s: string) => new TextEncoder().encode(s);
console.log(fc.sample(fc.integer(), 3));
for (const n of [1000, 100_000, 1_000_000]) {
  const t = performance.now();
  console.log(n, p(enc("[".repeat(n) + "]".repeat(n))), performance.now() - t);
  console.log(n, p(enc("[".repeat(n))), performance.now() - t);
  const obj = '{"version":2,"action":"set_push_accounts","device_id":"ab","accounts":' + "[".repeat(n) + "]".repeat(n) + "}";
  console.log(n, p(enc(obj)), performance.now() - t);
  const obj2 = '{"version":2,"action":"set_push_accounts","device_id":"ab","x":' + '{"a":'.repeat(n) + "1" + "}".repeat(n) + "}";
  console.log(n, p(enc(obj2)), performance.now() - t);
}
console.log(p(enc('{"version":2,"action":"set_channel_uri","device_id":"ab","channel_uri":"x","__proto__":{"device_id":"zz"}}')));
console.log(p(enc('{"__proto__":{"version":2,"action":"request_test_push","device_id":"ab"}}')));
console.log(p(enc('{"version":1e400,"action":"request_test_push","device_id":"ab"}')));
console.log(p(enc('{"version":2.0,"action":"request_test_push","device_id":"ab"}')));
console.log(p(enc('{"version":2,"action":"constructor","device_id":"ab"}')));
console.log(p(enc('{"version":2,"action":"toString","device_id":"ab"}')));
console.log(p(enc('{"version":2,"action":"set_push_accounts","device_id":"ab","accounts":[{"account_id":"a","__proto__":{"x":1}}]}')));
console.log(p(enc('{"version":2,"action":"set_push_accounts","device_id":"ab","accounts":{"length":1,"0":{"account_id":"a"}}}')));
console.log(p(enc('{"version":2,"action":"set_push_accounts","device_id":"ab","accounts":[]}')));
console.log(p(enc('{"version":2,"action":"set_channel_uri","device_id":"ab","channel_uri":"\\u0000"}')));
console.log(p(new Uint8Array([0xef,0xbb,0xbf,...enc('{"version":2,"action":"request_test_push","device_id":"ab"}')])));
