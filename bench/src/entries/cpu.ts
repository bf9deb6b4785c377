/**
 * The `extra` fields that say what a request cost in CPU: microseconds of CPU time (user +
 * system, every thread) the client process and the server process each spent per timed
 * request. On a shared machine they move less than the times do, and they show which side a
 * ratio's difference comes from.
 */
export interface CpuPerRequest {
  clientCpuUs: number;
  serverCpuUs: number;
}

export function cpuPerRequest(clientUs: number, serverUs: number, requests: number): CpuPerRequest {
  const per = (us: number): number => Math.round((us / requests) * 10) / 10;
  return { clientCpuUs: per(clientUs), serverCpuUs: per(serverUs) };
}
