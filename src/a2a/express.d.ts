/**
 * The little of Express that the A2A endpoints use (@a2a-js/sdk's handlers are Express routers; Express comes with
 * the SDKs, its types do not). Also what the SDK's declarations import from 'express'.
 */
declare module 'express' {
  import type http from 'node:http';

  export type Request = http.IncomingMessage & {
    header(name: string): string | undefined;
    params: Record<string, string>;
    body: unknown;
  };
  export type Response = http.ServerResponse;
  export type NextFunction = (err?: unknown) => void;
  export type RequestHandler = (req: Request, res: Response, next: NextFunction) => void;
  export interface Application extends RequestHandler {
    use(path: string, handler: RequestHandler): Application;
    disable(setting: string): Application;
  }
  export default function express(): Application;
}
