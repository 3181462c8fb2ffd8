export { createHttpEngine, type HttpEngine } from './engine.js';
export type { HttpEngineOptions, EngineLimits, EngineTimeouts } from './engine-config.js';
export { EngineRequest } from './request.js';
export { EngineResponse, InvalidHeaderError } from './response.js';
export { RequestParser, ParseError, DEFAULT_PARSER_LIMITS, type RequestHead, type ParserLimits, type ParserHandler, type HttpErrorCode } from './parser.js';
