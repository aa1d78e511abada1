/**
 * RFC 7541 Appendix C examples, transcribed by hand: each header block's hex and the header
 * list it decodes to, and the dynamic table size after it. Blocks of one sequence share one
 * decoder (their dynamic table carries across).
 *
 * @module
 */

import type { HeaderField } from "../../../../adapters/push/http2/hpack.ts";

/** One header block of an example. */
export interface VectorBlock {
  readonly hex: string;
  readonly fields: readonly HeaderField[];
  /** Dynamic table size after decoding the block (RFC's "Table size"). */
  readonly tableSize: number;
}

/** A sequence of blocks decoded by one decoder with table size `maxTableSize`. */
export interface VectorSequence {
  readonly name: string;
  readonly maxTableSize: number;
  readonly blocks: readonly VectorBlock[];
}

const DATE_21 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_22 = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION = "https://www.example.com";
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

const REQUEST_1: readonly HeaderField[] = [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", "/"],
  [":authority", "www.example.com"],
];
const REQUEST_2: readonly HeaderField[] = [...REQUEST_1, ["cache-control", "no-cache"]];
const REQUEST_3: readonly HeaderField[] = [
  [":method", "GET"],
  [":scheme", "https"],
  [":path", "/index.html"],
  [":authority", "www.example.com"],
  ["custom-key", "custom-value"],
];
const RESPONSE_1: readonly HeaderField[] = [
  [":status", "302"],
  ["cache-control", "private"],
  ["date", DATE_21],
  ["location", LOCATION],
];
const RESPONSE_2: readonly HeaderField[] = [
  [":status", "307"],
  ["cache-control", "private"],
  ["date", DATE_21],
  ["location", LOCATION],
];
const RESPONSE_3: readonly HeaderField[] = [
  [":status", "200"],
  ["cache-control", "private"],
  ["date", DATE_22],
  ["location", LOCATION],
  ["content-encoding", "gzip"],
  ["set-cookie", COOKIE],
];

/** C.2: single fields, each with a fresh decoder. */
export const SINGLE_FIELDS: readonly VectorSequence[] = [
  {
    name: "C.2.1 literal with indexing",
    maxTableSize: 4096,
    blocks: [{
      hex: "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
      fields: [["custom-key", "custom-header"]],
      tableSize: 55,
    }],
  },
  {
    name: "C.2.2 literal without indexing",
    maxTableSize: 4096,
    blocks: [{
      hex: "040c 2f73 616d 706c 652f 7061 7468",
      fields: [[":path", "/sample/path"]],
      tableSize: 0,
    }],
  },
  {
    name: "C.2.3 literal never indexed",
    maxTableSize: 4096,
    blocks: [{
      hex: "1008 7061 7373 776f 7264 0673 6563 7265 74",
      fields: [["password", "secret"]],
      tableSize: 0,
    }],
  },
  {
    name: "C.2.4 indexed",
    maxTableSize: 4096,
    blocks: [{ hex: "82", fields: [[":method", "GET"]], tableSize: 0 }],
  },
];

/** C.3 to C.6: request and response sequences. */
export const SEQUENCES: readonly VectorSequence[] = [
  {
    name: "C.3 requests without Huffman",
    maxTableSize: 4096,
    blocks: [
      {
        hex: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        fields: REQUEST_1,
        tableSize: 57,
      },
      { hex: "8286 84be 5808 6e6f 2d63 6163 6865", fields: REQUEST_2, tableSize: 110 },
      {
        hex: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        fields: REQUEST_3,
        tableSize: 164,
      },
    ],
  },
  {
    name: "C.4 requests with Huffman",
    maxTableSize: 4096,
    blocks: [
      { hex: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", fields: REQUEST_1, tableSize: 57 },
      { hex: "8286 84be 5886 a8eb 1064 9cbf", fields: REQUEST_2, tableSize: 110 },
      {
        hex: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        fields: REQUEST_3,
        tableSize: 164,
      },
    ],
  },
  {
    name: "C.5 responses without Huffman, table size 256",
    maxTableSize: 256,
    blocks: [
      {
        hex: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 " +
          "3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 " +
          "7861 6d70 6c65 2e63 6f6d",
        fields: RESPONSE_1,
        tableSize: 222,
      },
      { hex: "4803 3330 37c1 c0bf", fields: RESPONSE_2, tableSize: 222 },
      {
        hex: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 " +
          "474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 " +
          "454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 " +
          "6572 7369 6f6e 3d31",
        fields: RESPONSE_3,
        tableSize: 215,
      },
    ],
  },
  {
    name: "C.6 responses with Huffman, table size 256",
    maxTableSize: 256,
    blocks: [
      {
        hex: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 " +
          "82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        fields: RESPONSE_1,
        tableSize: 222,
      },
      { hex: "4883 640e ffc1 c0bf", fields: RESPONSE_2, tableSize: 222 },
      {
        hex: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b " +
          "d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 " +
          "0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        fields: RESPONSE_3,
        tableSize: 215,
      },
    ],
  },
];

/** The octets of RFC-style hex ("8286 84be ..."). */
export function hex(text: string): Uint8Array {
  const digits = text.replaceAll(" ", "");
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
