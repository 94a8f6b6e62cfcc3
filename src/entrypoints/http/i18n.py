"""Error messages in English, Brazilian Portuguese and Spanish, chosen by `Accept-Language`.

English answers carry the core's own message, which names the field and the rule. The other
languages say what the code means; `details` keeps the machine-readable specifics in every language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

LANGUAGES: Final = ("en", "pt-BR", "es")

CATALOG: Final[Mapping[str, Mapping[str, str]]] = {
    "INVALID_PARAMETER": {"pt-BR": "Parâmetro inválido.", "es": "Parámetro no válido."},
    "INVALID_AMOUNT": {"pt-BR": "Valor inválido.", "es": "Monto no válido."},
    "INVALID_CURRENCY": {"pt-BR": "Moeda desconhecida.", "es": "Moneda desconocida."},
    "INVALID_STATEMENT": {"pt-BR": "Extrato inválido.", "es": "Extracto no válido."},
    "INVALID_SIGNATURE": {
        "pt-BR": "A assinatura do webhook não é válida.",
        "es": "La firma del webhook no es válida.",
    },
    "CURRENCY_MISMATCH": {"pt-BR": "As moedas não coincidem.", "es": "Las monedas no coinciden."},
    "EXCEEDS_PENDING_AMOUNT": {
        "pt-BR": "O valor excede o valor reservado.",
        "es": "El monto excede el monto reservado.",
    },
    "INVALID_OPERATION": {
        "pt-BR": "Operação não permitida no estado atual.",
        "es": "Operación no permitida en el estado actual.",
    },
    "INSUFFICIENT_FUNDS": {"pt-BR": "Saldo insuficiente.", "es": "Saldo insuficiente."},
    "CREDITS_EXCEED_DEBITS": {
        "pt-BR": "Operação não permitida no estado atual.",
        "es": "Operación no permitida en el estado actual.",
    },
    "BALANCE_OVERFLOW": {"pt-BR": "Valor grande demais.", "es": "Monto demasiado grande."},
    "PENDING_TRANSFER_NOT_FOUND": {
        "pt-BR": "Reserva não encontrada.",
        "es": "Reserva no encontrada.",
    },
    "PENDING_TRANSFER_ALREADY_RESOLVED": {
        "pt-BR": "A reserva já foi resolvida.",
        "es": "La reserva ya fue resuelta.",
    },
    "PENDING_TRANSFER_EXPIRED": {"pt-BR": "A reserva expirou.", "es": "La reserva expiró."},
    "IDEMPOTENCY_KEY_REUSED": {
        "pt-BR": "A chave de idempotência já foi usada com outra requisição.",
        "es": "La clave de idempotencia ya se usó con otra solicitud.",
    },
    "IDEMPOTENCY_CONFLICT": {
        "pt-BR": "O identificador já foi usado com outro conteúdo.",
        "es": "El identificador ya se usó con otro contenido.",
    },
    "REQUEST_IN_PROGRESS": {
        "pt-BR": "Uma requisição com esta chave está em andamento.",
        "es": "Una solicitud con esta clave está en curso.",
    },
    "UNAUTHENTICATED": {
        "pt-BR": "Token de autenticação inválido ou expirado.",
        "es": "Token de autenticación no válido o vencido.",
    },
    "MFA_CHALLENGE_REQUIRED": {
        "pt-BR": "Verificação em duas etapas necessária.",
        "es": "Se requiere verificación en dos pasos.",
    },
    "INSUFFICIENT_PERMISSIONS": {"pt-BR": "Permissão insuficiente.", "es": "Permisos insuficientes."},
    "FOUR_EYES_VIOLATION": {
        "pt-BR": "A aprovação exige outra pessoa, diferente de quem iniciou.",
        "es": "La aprobación requiere otra persona, distinta de quien inició.",
    },
    "RESOURCE_NOT_FOUND": {"pt-BR": "Recurso não encontrado.", "es": "Recurso no encontrado."},
    "METHOD_NOT_ALLOWED": {"pt-BR": "Método não permitido.", "es": "Método no permitido."},
    "PAYLOAD_TOO_LARGE": {"pt-BR": "Requisição grande demais.", "es": "Solicitud demasiado grande."},
    "UNSUPPORTED_MEDIA_TYPE": {
        "pt-BR": "Tipo de conteúdo não suportado.",
        "es": "Tipo de contenido no admitido.",
    },
    "RATE_LIMIT_EXCEEDED": {
        "pt-BR": "Taxa de requisições excedida. Tente novamente mais tarde.",
        "es": "Límite de solicitudes excedido. Inténtelo de nuevo más tarde.",
    },
    "INTERNAL_ERROR": {
        "pt-BR": "Não foi possível processar a requisição.",
        "es": "No se pudo procesar la solicitud.",
    },
    "PROVIDER_UNAVAILABLE": {
        "pt-BR": "O provedor de pagamentos está indisponível.",
        "es": "El proveedor de pagos no está disponible.",
    },
    "SERVICE_UNAVAILABLE": {
        "pt-BR": "Serviço temporariamente indisponível.",
        "es": "Servicio no disponible temporalmente.",
    },
}


def language_of(header: str | None) -> str:
    """The best of our languages for an `Accept-Language` header; English when none fits."""
    if not header:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            continue
        if tag.startswith("pt"):
            return "pt-BR"
        if tag.startswith("es"):
            return "es"
        if tag.startswith("en") or tag == "*":
            return "en"
    return "en"


def message_for(code: str, language: str, english: str) -> str:
    if language == "en":
        return english
    return CATALOG.get(code, {}).get(language, english)
