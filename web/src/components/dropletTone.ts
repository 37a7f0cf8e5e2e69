// The badge colour of a droplet status, shared by the droplet pages and the overview.
import { DropletStatus } from "../gen/clustergenie/provisioning/v1/provisioning_pb";

export function dropletTone(s: DropletStatus) {
  return s === DropletStatus.ACTIVE ? "ok" : s === DropletStatus.NEW ? "info" : s === DropletStatus.OFF ? "warn" : "neutral";
}
