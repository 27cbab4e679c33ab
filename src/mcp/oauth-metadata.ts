/**
 * OAuth metadata for MCP clients (the MCP authorization spec): the protected-resource document named in the 401's
 * `resource_metadata` (RFC 9728), and the authorization server's (RFC 8414) it points to: this API, whose token
 * endpoint (POST /oauth/token, client credentials only) issues the access tokens /mcp takes besides API keys.
 */
import { OAUTH_SCOPES } from '../auth/oauth.js';
import { OAUTH_TOKEN_PATH } from '../api/oauth-token-endpoint.js';

export const AUTHORIZATION_SERVER_METADATA_PATH = '/.well-known/oauth-authorization-server';

export function protectedResourceMetadata(publicUrl: string, resourceUrl: string): Record<string, unknown> {
  return {
    resource: resourceUrl,
    authorization_servers: [publicUrl],
    bearer_methods_supported: ['header'],
    scopes_supported: [...OAUTH_SCOPES],
    resource_name: 'ERC-8004 reputation queries (MCP)',
    resource_documentation: `${publicUrl}/api/v1/docs`,
  };
}

export function authorizationServerMetadata(publicUrl: string): Record<string, unknown> {
  return {
    issuer: publicUrl,
    token_endpoint: `${publicUrl}${OAUTH_TOKEN_PATH}`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: [...OAUTH_SCOPES],
    // No authorization endpoint: nothing is issued through a browser redirect.
    response_types_supported: [],
  };
}
