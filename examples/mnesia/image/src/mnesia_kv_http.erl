%% mnesia_kv_http: the HTTP front of a mnesia_kv node, an inets httpd
%% callback module (do/1), with JSON by hand (OTP 25 has no json module).
%%
%%   GET  /kv/KEY   -> 200 {"value": 3} | {"value": null}
%%   POST /kv/KEY   {"op":"write","value":3}             -> 200 {"ok":true}
%%                  {"op":"cas","expect":2,"value":3}    -> 200 {"ok":true} | {"ok":false}
%%                  (expect absent or null: the key must be absent)
%%   GET  /ready    -> 200 {"ready":true} | 503 {"ready":false,"reason":"..."}
%%   GET  /status   -> 200 {...}
%%
%% Every read and write runs in one mnesia:transaction (no dirty
%% operations). A transaction that aborts changed nothing: 503
%% {"error":"..."}. A request that is malformed: 400, changed nothing.
-module(mnesia_kv_http).

-export([start/1, do/1]).
-export([json_encode/1, json_decode/1]).

-include_lib("inets/include/httpd.hrl").

-define(TABLE, kv).

start(Port) ->
    ok = case inets:start() of
             ok -> ok;
             {error, {already_started, inets}} -> ok
         end,
    {ok, _} = inets:start(httpd, [{port, Port},
                                  {bind_address, any},
                                  {ipfamily, inet},
                                  {server_name, "mnesia_kv"},
                                  {server_root, "/tmp"},
                                  {document_root, "/tmp"},
                                  {modules, [?MODULE]},
                                  {max_clients, 1000},
                                  {keep_alive, true},
                                  {keep_alive_timeout, 30}]),
    ok.

do(#mod{method = Method, request_uri = Uri, entity_body = Body}) ->
    Path = hd(string:split(Uri, "?")),
    {Code, Json} = try route(Method, Path, Body)
                   catch
                       throw:{bad_request, Why} ->
                           {400, #{error => iolist_to_binary(Why)}};
                       C:R:S ->
                           mnesia_kv:log("http: ~s ~s crashed: ~p:~p ~p", [Method, Uri, C, R, S]),
                           {500, #{error => fmt("~0p:~0p", [C, R])}}
                   end,
    Bin = iolist_to_binary([json_encode(Json), "\n"]),
    {proceed, [{response, {response, [{code, Code},
                                      {content_type, "application/json"},
                                      {content_length, integer_to_list(byte_size(Bin))}],
                           [Bin]}}]}.

route("GET", "/ready", _) ->
    case mnesia_kv:ready() of
        ok -> {200, #{ready => true}};
        {error, Why} -> {503, #{ready => false, reason => Why}}
    end;
route("GET", "/status", _) ->
    {200, mnesia_kv:status()};
route("GET", "/kv/" ++ Key, _) ->
    read(key(Key));
route("POST", "/kv/" ++ Key, Body) ->
    K = key(Key),
    Req = try json_decode(iolist_to_binary(Body))
          catch _:_ -> throw({bad_request, "body is not JSON"})
          end,
    is_map(Req) orelse throw({bad_request, "body is not a JSON object"}),
    case maps:get(<<"op">>, Req, undefined) of
        <<"write">> ->
            write(K, int(maps:get(<<"value">>, Req, undefined), "value"));
        <<"cas">> ->
            Expect = case maps:get(<<"expect">>, Req, null) of
                         null -> null;
                         E -> int(E, "expect")
                     end,
            cas(K, Expect, int(maps:get(<<"value">>, Req, undefined), "value"));
        _ ->
            throw({bad_request, "op must be \"write\" or \"cas\""})
    end;
route(_, "/kv/" ++ _, _) ->
    {405, #{error => <<"method not allowed">>}};
route(_, Path, _) ->
    {404, #{error => iolist_to_binary(["no such path: ", Path])}}.

key(Encoded) ->
    case uri_string:percent_decode(list_to_binary(Encoded)) of
        <<>> -> throw({bad_request, "empty key"});
        K when is_binary(K) -> K;
        {error, _, _} -> throw({bad_request, "bad percent-encoding in key"})
    end.

int(V, _) when is_integer(V) -> V;
int(_, Field) -> throw({bad_request, [Field, " must be an integer"]}).

read(Key) ->
    answer(mnesia:transaction(fun() -> mnesia:read(?TABLE, Key) end),
           fun([{?TABLE, _, V}]) -> #{value => V};
              ([]) -> #{value => null}
           end).

write(Key, Value) ->
    answer(mnesia:transaction(fun() -> mnesia:write({?TABLE, Key, Value}) end),
           fun(ok) -> #{ok => true} end).

%% Expect null: the key must be absent.
cas(Key, Expect, Value) ->
    F = fun() ->
                Current = case mnesia:read(?TABLE, Key, write) of
                              [{?TABLE, _, V}] -> V;
                              [] -> null
                          end,
                case Current =:= Expect of
                    true -> ok = mnesia:write({?TABLE, Key, Value}), true;
                    false -> false
                end
        end,
    answer(mnesia:transaction(F), fun(Swapped) -> #{ok => Swapped} end).

answer({atomic, Result}, Ok) -> {200, Ok(Result)};
answer({aborted, Reason}, _) -> {503, #{error => fmt("aborted: ~0p", [Reason])}}.

fmt(Fmt, Args) ->
    unicode:characters_to_binary(io_lib:format(Fmt, Args)).

%% ---------------------------------------------------------------------
%% JSON. Encoding: maps (atom or binary keys), lists, binaries (strings),
%% integers, floats, true/false/null; other atoms become strings.

json_encode(null) -> <<"null">>;
json_encode(true) -> <<"true">>;
json_encode(false) -> <<"false">>;
json_encode(A) when is_atom(A) -> json_string(atom_to_binary(A, utf8));
json_encode(I) when is_integer(I) -> integer_to_binary(I);
json_encode(F) when is_float(F) -> float_to_binary(F, [short]);
json_encode(B) when is_binary(B) -> json_string(B);
json_encode(L) when is_list(L) -> [$[, lists:join($,, [json_encode(X) || X <- L]), $]];
json_encode(M) when is_map(M) ->
    [${, lists:join($,, [[json_string(key_bin(K)), $:, json_encode(V)]
                         || {K, V} <- lists:sort(maps:to_list(M))]), $}];
json_encode(Other) -> json_string(fmt("~0p", [Other])).

key_bin(K) when is_atom(K) -> atom_to_binary(K, utf8);
key_bin(K) when is_binary(K) -> K.

json_string(B) -> [$", [esc(C) || <<C>> <= B], $"].

esc($") -> <<"\\\"">>;
esc($\\) -> <<"\\\\">>;
esc($\n) -> <<"\\n">>;
esc($\r) -> <<"\\r">>;
esc($\t) -> <<"\\t">>;
esc(C) when C < 16#20 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) -> C.

%% Decoding: objects become maps with binary keys, strings binaries, null
%% null. Throws on anything malformed.
json_decode(Bin) ->
    {V, Rest} = value(ws(Bin)),
    <<>> = ws(Rest),
    V.

ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> ws(R);
ws(B) -> B.

value(<<"{", R/binary>>) -> object(ws(R), #{});
value(<<"[", R/binary>>) -> array(ws(R), []);
value(<<"\"", R/binary>>) -> string(R, []);
value(<<"null", R/binary>>) -> {null, R};
value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<C, _/binary>> = B) when C =:= $-; C >= $0, C =< $9 -> number(B, []).

object(<<"}", R/binary>>, M) when map_size(M) =:= 0 -> {M, R};
object(<<"\"", R/binary>>, M) ->
    {K, R1} = string(R, []),
    <<":", R2/binary>> = ws(R1),
    {V, R3} = value(ws(R2)),
    case ws(R3) of
        <<",", R4/binary>> -> object(ws(R4), M#{K => V});
        <<"}", R4/binary>> -> {M#{K => V}, R4}
    end.

array(<<"]", R/binary>>, []) -> {[], R};
array(B, Acc) ->
    {V, R1} = value(B),
    case ws(R1) of
        <<",", R2/binary>> -> array(ws(R2), [V | Acc]);
        <<"]", R2/binary>> -> {lists:reverse([V | Acc]), R2}
    end.

string(<<"\"", R/binary>>, Acc) -> {unicode:characters_to_binary(lists:reverse(Acc)), R};
string(<<"\\u", H:4/binary, R/binary>>, Acc) -> string(R, [binary_to_integer(H, 16) | Acc]);
string(<<"\\", C, R/binary>>, Acc) ->
    string(R, [case C of
                   $" -> $"; $\\ -> $\\; $/ -> $/; $b -> $\b;
                   $f -> $\f; $n -> $\n; $r -> $\r; $t -> $\t
               end | Acc]);
string(<<C/utf8, R/binary>>, Acc) when C >= 16#20 -> string(R, [C | Acc]).

number(<<C, R/binary>>, Acc) when C >= $0, C =< $9; C =:= $-; C =:= $+;
                                  C =:= $.; C =:= $e; C =:= $E ->
    number(R, [C | Acc]);
number(R, Acc) ->
    S = lists:reverse(Acc),
    V = try list_to_integer(S)
        catch error:badarg -> list_to_float(S)
        end,
    {V, R}.
