import { useCallback, useState } from "react";

/**
 * Cursor pagination over page_token / next_page_token: a stack of the tokens
 * of the pages visited, so "previous" works without offsets.
 */
export function usePages() {
  const [tokens, setTokens] = useState<string[]>([""]);
  const next = useCallback((token: string) => {
    if (token) setTokens((t) => [...t, token]);
  }, []);
  const prev = useCallback(() => setTokens((t) => (t.length > 1 ? t.slice(0, -1) : t)), []);
  const reset = useCallback(() => setTokens([""]), []);
  return { token: tokens[tokens.length - 1] ?? "", index: tokens.length - 1, next, prev, reset };
}
