// The API explorer: Swagger UI on this service's own OpenAPI document. Everything is relative
// to the page, so the explorer works wherever the service is mounted.
"use strict";

window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No badge from validator.swagger.io: nothing leaves for another origin.
    validatorUrl: null,
    // No ?url= or ?configUrl=: the page shows this service's document, never another.
    queryConfigEnabled: false,
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    tryItOutEnabled: false,
  });
});
