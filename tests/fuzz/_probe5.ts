import { requestParser } from "../../adapters/device/device_protocol.ts";
const p = requestParser(32);
const enc = (s: string) => new TextEncoder().encode(s);
const L = 64 * 1024;
const cases: Record<string, string> = {
  manyInts: '{"version":2,"action":"set_push_accounts","device_id":"ab","accounts":[' + "1,".repeat(L / 2 - 60) + "1]}",
  manyObjsBad: '{"version":2,"action":"set_push_accounts","device_id":"ab","accounts":[' + '{"account_id":1},'.repeat(L / 17 - 10) + "1]}",
  manyObjsGood: '{"version":2,"action":"set_push_accounts","device_id":"ab","accounts":[' + '{"account_id":"a"},'.repeat(L / 19 - 10) + '{"account_id":"a"}]}',
  longAction: '{"version":2,"action":"' + "x".repeat(L - 40) + '"}',
  longDevice: '{"version":2,"action":"request_test_push","device_id":"' + "a".repeat(L - 80) + '"}',
  manyKeys: '{"version":2,"action":"request_test_push","device_id":"ab"' + Array.from({ length: 6000 }, (_, i) => `,"k${i}":1`).join("") + "}",
  deepObj: '{"version":2,"action":"request_test_push","device_id":"ab","x":' + '{"a":'.repeat(L / 6) + "1" + "}".repeat(L / 6) + "}",
};
for (const [name, text] of Object.entries(cases)) {
  const t = performance.now();
  const r = p(enc(text));
  console.log(name, text.length, (performance.now() - t).toFixed(1), JSON.stringify(r).slice(0, 150));
}
