import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import { createAuthStore } from "./lib/auth";
import { createQuotaStore } from "./lib/ratelimit";
import { createAppTransport } from "./lib/transport";
import "./styles.css";

const auth = createAuthStore();
const quota = createQuotaStore();
// The gateway serves this page and gRPC-web on one origin (window.location.origin).
// Never take the API address from the URL: the bearer token would follow it.
const transport = createAppTransport({ auth, quota });

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App transport={transport} auth={auth} quota={quota} />
  </StrictMode>,
);
