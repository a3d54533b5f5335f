// What zones tell each other through the global (issue 18; the shared design in zones.md):
// a zone's summary of itself, and the global's record of every zone.

/** What the global tells a zone about every other zone (and what a zone reports of itself). */
export type ZoneSummary = {
  readonly zone: string;
  /** Where other zones reach this zone's instances: its zone ingress (15443 by default); null: none yet. */
  readonly ingress: { readonly address: string; readonly port: number } | null;
  /** Connected to the global now (the global's view; a zone reports itself true). */
  readonly online: boolean;
  /** RFC 3339; the last time the global heard from it. */
  readonly lastSync: string;
  readonly services: readonly ZoneService[];
};
export type ZoneService = {
  readonly namespace: string;
  readonly name: string;
  /** As the zone's Service declares them (name, port, appProtocol), with that zone's healthy instance count and their SPIFFE IDs. */
  readonly ports: readonly { readonly name?: string; readonly port: number; readonly appProtocol?: string; readonly instances: number; readonly identities: readonly string[] }[];
};

/** A zone as `sluicectl get zones` shows it: its summary, plus what the zone runs and serves. */
export type ZoneRecord = {
  readonly summary: ZoneSummary;
  /** The zone's sluice-cp version. */
  readonly version: string;
  /** Proxies connected to the zone's control plane. */
  readonly proxies: number;
};

/** A zone name: a DNS label (RFC 1123). */
export const ZONE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
