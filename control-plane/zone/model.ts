// What zones tell each other through the global control plane (issue 18): one summary per
// zone, of its Services' ports, their healthy instances and where its zone ingress is.

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
