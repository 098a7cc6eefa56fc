/** Reading the gateway's answers in the load generator: cheap regexes, not JSON.parse, on the hot loop. */

/** Outcome of an answer: the error code of a refusal, OK for a 201. */
export const outcomeOf = (status: number, body: string): string => {
  if (status === 201) return 'OK';
  const match = /"error":"([A-Z_]+)"/.exec(body);
  return match ? match[1] : `HTTP_${status}`;
};

export const orderIdOf = (body: string): string | null => /"orderId":"([^"]+)"/.exec(body)?.[1] ?? null;
