// Where the Enhanced RTMP fixture files live (copied into the repository, see fixtures/README.md).
import { fileURLToPath } from "node:url";

/** The two E-RTMP fixture file names. */
export const ERTMP_FIXTURES = [
  "ertmp-av1-opus-testsrc.flv",
  "ertmp-av1-opus-mptestsrc.flv",
] as const;

/** Absolute path of a file in tests/fixtures/. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}
